/**
 * Waits until berthd answers GET /_ping with 200 "OK" on its unix socket; the guest's boot
 * prints "BERTH-BOOT ready" only then. One node process polls (starting node per try would
 * cost more than the wait under emulation).
 * usage: node ping.mjs <socket> <timeout seconds>; exit 0 when ready, 1 on timeout.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const [socketPath = '/var/run/docker.sock', seconds = '300'] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;

function ping() {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && body === 'OK'));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

while (!(await ping())) {
  if (Date.now() > deadline) process.exit(1);
  await sleep(100);
}
