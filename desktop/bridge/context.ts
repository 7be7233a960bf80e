/**
 * What the method and stream handlers of the bridge host share: the engines registry, the settings,
 * a client for the active engine, the job manager, and a way to hear that the active engine
 * changed (event streams reconnect to the new one).
 */
import type { EngineRegistry } from '../../client/contexts/index.js';
import type { EngineClient } from '../../client/index.js';
import type { EngineEndpoint, EngineStatus } from '../../types/desktop-api.js';
import type { JobManager } from './jobs.js';
import type { DesktopSettings } from './settings.js';

export interface HostContext {
  readonly kind: 'electron' | 'web';
  readonly appVersion: string;
  readonly env: NodeJS.ProcessEnv;
  /** The engines (shared with `berth context`) and which one is active. */
  readonly registry: EngineRegistry;
  readonly settings: DesktopSettings;
  readonly jobs: JobManager;
  /** The client of the active engine (replaced when the active engine changes). */
  client(): EngineClient;
  activeEngine(): EngineEndpoint;
  /** The active engine's status (ping and version; for ssh engines the SSH connection first). */
  probe(): Promise<EngineStatus>;
  /** Makes `id` the active engine and answers its status. */
  useEngine(id: string): Promise<EngineStatus>;
  /** Calls `fn` whenever the active engine changes; returns the unsubscribe function. */
  onEngineChange(fn: () => void): () => void;
}
