/** Container labels the app reads: compose's, and the one on Berth Desktop's own short-lived helpers. */
export const PROJECT_LABEL = 'com.docker.compose.project';
export const SERVICE_LABEL = 'com.docker.compose.service';
export const NUMBER_LABEL = 'com.docker.compose.container-number';
/** Set by the bridge (desktop/bridge/volume-files.ts) on the containers it makes to reach a volume's files. */
export const HELPER_LABEL = 'com.berth.desktop.helper';
