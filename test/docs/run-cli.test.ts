import { runDocTest } from './run-doc.js';

runDocTest('docs/cli.md');
