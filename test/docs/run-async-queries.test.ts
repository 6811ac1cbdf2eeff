import { runDocTest } from './run-doc.js';

runDocTest('docs/async-queries.md');
