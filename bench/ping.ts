// Request latency over a single keep-alive connection: GET /_ping, GET /containers/json.
import { Agent, request } from 'node:http';
import { summarize, type Summary } from './stats.js';

export interface PingResult {
  /** Latency per request, microseconds. */
  micros: Summary;
  requests: number;
  warmup: number;
  /** Connections opened for the whole run (1 when keep-alive held). */
  connections: number;
}

function pingOnce(agent: Agent, socketPath: string, path: string): Promise<{ micros: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = request({ agent, socketPath, method: 'GET', path, headers: { Host: 'localhost' }, timeout: 10_000 }, (res) => {
      res.on('data', () => undefined);
      res.on('error', reject);
      res.on('end', () => {
        const micros = Number(process.hrtime.bigint() - t0) / 1e3;
        if (res.statusCode !== 200) reject(new Error(`GET ${path} answered ${res.statusCode}`));
        else resolve({ micros, reused: req.reusedSocket });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** `path` defaults to /_ping; any GET that answers 200 works. */
export async function pingLatency(socketPath: string, requests: number, warmup: number, path = '/_ping'): Promise<PingResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    let connections = 0;
    const samples: number[] = [];
    for (let i = 0; i < warmup + requests; i++) {
      const { micros, reused } = await pingOnce(agent, socketPath, path);
      if (!reused) connections++;
      if (i >= warmup) samples.push(micros);
    }
    return { micros: summarize(samples), requests, warmup, connections };
  } finally {
    agent.destroy();
  }
}
