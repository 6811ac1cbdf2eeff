import { runDocTest } from './run-doc.js';

runDocTest('docs/governance.md');
