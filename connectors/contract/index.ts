/**
 * The contract: the bottom layer of types and errors every room may import (floors, top to
 * bottom: bench → engine → connectors → native; imports only run down). It imports nothing
 * from the rooms above it (only native's CopyFormat, from below).
 */
export * from './errors.js';
export * from './domain.js';
export * from './qualified-name.js';
export * from './catalog.js';
export * from './frames.js';
export * from './state.js';
export * from './write-contract.js';
export * from './connector.js';
export * from './changes.js';
