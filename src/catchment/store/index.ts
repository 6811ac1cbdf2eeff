/** The Catchment's storage: root layout, duck.db (migrations + repository), credentials. */
export * from './db.js';
export * from './errors.js';
export * from './layout.js';
export * from './migrations.js';
export * from './schemas.js';
export * from './secrets.js';
export * from './store.js';
