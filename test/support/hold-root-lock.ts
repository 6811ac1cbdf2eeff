/** A process that takes a root's lock, says so on stdout, and waits to be killed. */
import { lockRoot } from '../../src/catchment/root-lock.js';

const lock = lockRoot(process.argv[2] as string);
lock.listening('http://127.0.0.1:1');
process.stdout.write('locked\n');
setInterval(() => {}, 60_000);
