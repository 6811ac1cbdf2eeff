import { runDocTest } from './run-doc.js';

// Longer than the others: it starts a worker and restarts a routed Catchment, and today a Catchment
// that ran a remote query takes up to the query time limit (30 s) to exit on Ctrl-C.
runDocTest('docs/compute.md', 240_000);
