import { runDocTest } from './run-doc.js';

runDocTest('docs/compute.md');
