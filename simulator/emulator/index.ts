export { startEmulator, registrationView, TOKEN_PATH, API_BASE, MAX_BULK_ITEMS, type EmulatorHandle, type EmulatorOptions } from './server.ts';
export { parseFaultFlags, faultSettingsSchema, FAULT_FLAG_HELP, type FaultSettings } from './faults.ts';
export { loadKnownData, knownDataSchema, type KnownData } from './known-data.ts';
export { loadClients, type EmulatorClient } from './clients.ts';
export { EmulatorStore, type StoredRegistration } from './store.ts';
