// Moved to connectors/contract/qualified-name.ts (the connectors parse stream names with the same code); kept so engine code imports unchanged.
export * from '../../connectors/contract/qualified-name.js';
