// The bench image: N layers of incompressible content, gzip-compressed as registries usually
// serve them, pushed to a loopback registry shared by every engine.
import { request } from 'node:http';
import { inspectRaw, pushImage, randomLayer, type PushedImage } from '../test/harness/images.js';
import { startRegistry, type TestRegistry } from '../test/harness/registry.js';
import { deferCleanup } from './proc.js';

export interface BenchImage extends PushedImage {
  layers: number;
  /** Uncompressed payload bytes (file content, not counting tar headers). */
  payloadBytes: number;
  /** Sum of the layer blob sizes the registry serves. */
  compressedBytes: number;
  format: 'oci' | 'docker';
}

export interface ImageShape {
  repoTag: string;
  layers: number;
  bytesPerLayer: number;
  format: 'oci' | 'docker';
}

async function pushBenchImage(registry: TestRegistry, shape: ImageShape): Promise<BenchImage> {
  const specs = Array.from({ length: shape.layers }, (_, i) => randomLayer(`bench/layer${i}`, shape.bytesPerLayer));
  const pushed = await pushImage(registry, shape.repoTag, { layers: specs, config: { Cmd: ['sh'] } }, { format: shape.format });
  const manifest = JSON.parse((await inspectRaw(pushed.ref)).toString()) as { layers: Array<{ size: number }> };
  return {
    ...pushed,
    layers: shape.layers,
    payloadBytes: shape.layers * shape.bytesPerLayer,
    compressedBytes: manifest.layers.reduce((n, l) => n + l.size, 0),
    format: shape.format,
  };
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * The registry serving the bench image. ensureServing() restarts it (and pushes a new image) if
 * it stopped answering: this machine is shared, and a stray `pkill docker-registry` elsewhere
 * should cost one retried pull, not the whole run.
 */
export class BenchSource {
  private registry: TestRegistry | undefined;
  private current: BenchImage | undefined;
  restarts = 0;

  constructor(private readonly shape: ImageShape) {}

  get image(): BenchImage {
    if (!this.current) throw new Error('bench image not pushed yet');
    return this.current;
  }

  async start(): Promise<BenchImage> {
    const registry = await startRegistry();
    this.registry = registry;
    deferCleanup('stop registry', () => registry.stop());
    this.current = await pushBenchImage(registry, this.shape);
    return this.current;
  }

  /** True when the registry had to be restarted. */
  async ensureServing(): Promise<boolean> {
    if (this.registry && (await answers(`${this.registry.url}/v2/`))) return false;
    await this.registry?.stop().catch(() => undefined);
    this.restarts++;
    await this.start();
    return true;
  }
}
