// Moved to connectors/contract/errors.ts (the bottom floor every room may import); kept so engine code imports unchanged.
export * from '../connectors/contract/errors.js';
