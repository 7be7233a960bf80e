import { randomBytes, randomInt } from 'node:crypto';
import { invalid } from '../common/errors.js';

/** Docker's rule for container names (an optional leading slash is accepted and dropped). */
const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Returns the name without its leading slash; throws 400 for names Docker would refuse. */
export function validateName(name: string): string {
  if (!NAME_RE.test(name)) throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.startsWith('/') ? name.slice(1) : name;
}

export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

// Our own small word lists: moods and harbour things (Berth is a place where ships tie up).
const LEFT = [
  'brave', 'calm', 'clever', 'eager', 'gentle', 'happy', 'jolly', 'keen', 'lucky', 'merry',
  'nimble', 'proud', 'quiet', 'rapid', 'salty', 'steady', 'sunny', 'swift', 'tidy', 'witty',
];
const RIGHT = [
  'anchor', 'barge', 'beacon', 'buoy', 'capstan', 'cutter', 'dinghy', 'ferry', 'galley', 'harbor',
  'jetty', 'keel', 'lantern', 'mast', 'pier', 'quay', 'rudder', 'schooner', 'skiff', 'tugboat',
];

/** An `adjective_noun` name not in `taken`; a digit suffix after a few collisions. */
export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; ; i++) {
    let name = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
    if (i >= 10) name += String(randomInt(100));
    if (!taken(name)) return name;
  }
}
