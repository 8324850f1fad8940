/**
 * daxmon's errors: the catalogue of stable codes (src/errors/catalogue.ts, shown in
 * docs/errors.md), the one base class every area extends (src/errors/base.ts), and the fields a
 * log line about an error carries (src/errors/log-fields.ts).
 */
export * from './errors/base.js';
export * from './errors/catalogue.js';
export * from './errors/log-fields.js';
