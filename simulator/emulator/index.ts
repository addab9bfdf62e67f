export { startEmulator, type EmulatorHandle, type EmulatorOptions } from './server.ts';
export { parseFaultFlags, type FaultSettings } from './faults.ts';
export { loadKnownData, type KnownData } from './known-data.ts';
export { loadClients, type EmulatorClient } from './clients.ts';
export { type StoredRegistration } from './store.ts';
