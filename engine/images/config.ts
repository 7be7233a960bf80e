/** The OCI/Docker image configuration (the JSON blob whose digest is the image ID). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: unknown;
  ArgsEscaped?: boolean;
  OnBuild?: string[] | null;
  Shell?: string[];
  [k: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  config?: ContainerConfig;
  rootfs: { type: string; diff_ids: string[] };
  history?: HistoryEntry[];
  comment?: string;
  docker_version?: string;
  container?: string;
  container_config?: ContainerConfig;
  [k: string]: unknown;
}

export function parseImageConfig(buf: Buffer): ImageConfig {
  let cfg: unknown;
  try {
    cfg = JSON.parse(buf.toString('utf8'));
  } catch {
    throw new Error('image config is not valid JSON');
  }
  const c = cfg as Partial<ImageConfig>;
  if (typeof c !== 'object' || c === null || !c.rootfs || !Array.isArray(c.rootfs.diff_ids)) {
    throw new Error('image config has no rootfs.diff_ids');
  }
  return c as ImageConfig;
}
