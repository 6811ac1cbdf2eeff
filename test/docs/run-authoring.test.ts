import { runDocTest } from './run-doc.js';

runDocTest('docs/authoring.md');
