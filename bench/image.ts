// The bench image: N layers of incompressible content, gzip-compressed as registries usually
// serve them, pushed once to a loopback registry shared by every engine.
import { pushImage, randomLayer, type PushedImage } from '../test/harness/images.js';
import type { TestRegistry } from '../test/harness/registry.js';

export interface BenchImage extends PushedImage {
  layers: number;
  /** Uncompressed payload bytes (file content, not counting tar headers). */
  payloadBytes: number;
  format: 'oci' | 'docker';
}

export async function pushBenchImage(
  registry: TestRegistry,
  repoTag: string,
  layers: number,
  bytesPerLayer: number,
  format: 'oci' | 'docker',
): Promise<BenchImage> {
  const specs = Array.from({ length: layers }, (_, i) => randomLayer(`bench/layer${i}`, bytesPerLayer));
  const pushed = await pushImage(registry, repoTag, { layers: specs, config: { Cmd: ['sh'] } }, { format });
  return { ...pushed, layers, payloadBytes: layers * bytesPerLayer, format };
}
