import { runDocTest } from './run-doc.js';

runDocTest('docs/runtime.md');
