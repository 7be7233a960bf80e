/**
 * The volume subsystem's vocabulary: what a volume is on disk, what a create asks for, and the
 * two ports the rest of the engine sees — who uses a volume (the containers, wired by the
 * daemon) and where volume events go.
 */

/** Docker's label on volumes a container created for itself (`-v /data`, image VOLUME). */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

/** `<data-root>/volumes/<name>/volume.json`. */
export interface VolumeRecord {
  version: 1;
  Name: string;
  /** Always "local": the only driver berth has. */
  Driver: 'local';
  Labels: Record<string, string>;
  /** The local driver's options (type, o, device) as given; {} for a plain directory. */
  Options: Record<string, string>;
  /** RFC 3339, seconds precision (as Docker shows it). */
  CreatedAt: string;
  /** Made for one container (64-hex name); `rm -v`, `--rm` and prune without `all` remove it. */
  Anonymous: boolean;
}

/** POST /volumes/create (and what container create asks for a named or anonymous volume). */
export interface VolumeCreateRequest {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/** Who references a volume: the ids of every container (running or not) whose mounts name it. */
export interface VolumeUsers {
  containersUsing(name: string): string[];
  /** A container's name (without the leading slash), so refusals name what a person knows. */
  nameOf?(id: string): string | undefined;
}

/** Where volume events go (create, mount, unmount, destroy; Actor.ID is the volume name). */
export type VolumeEventSink = (action: string, name: string, attributes: Record<string, string>) => void;
