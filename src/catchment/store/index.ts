/** The Catchment's storage: root layout, duck.db (migrations, one repository per concern), credentials. */
export * from './db.js';
export * from './ducks.js';
export * from './engine-state.js';
export * from './errors.js';
export * from './layout.js';
export * from './line-config.js';
export * from './lines.js';
export * from './logs.js';
export * from './migrations.js';
export * from './runs.js';
export * from './schemas.js';
export * from './secrets.js';
export * from './sql.js';
export * from './store.js';
export * from './tables.js';
export * from './versions.js';
