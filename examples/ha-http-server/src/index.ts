export * from './http.js';
export * from './objects.js';
export * from './server.js';
export { parseArgs, run, fetchViaStack, UsageError } from './cli.js';
export type { CliConfig, Running } from './cli.js';
