/** Entry point run by bin/berthd. */
import { main } from './main.js';

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`berthd: fatal: ${err instanceof Error && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
