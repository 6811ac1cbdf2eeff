import { runDocTest } from './run-doc.js';

runDocTest('docs/simulate.md');
