/** The pure orchestration engine: import this module alone to run the model anywhere. */
export * from './duck-engine.js';
export * from './duration.js';
export * from './engine.js';
export * from './topology.js';
export * from './windows.js';
