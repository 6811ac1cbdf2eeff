import { runDocTest } from './run-doc.js';

runDocTest('README.md');
