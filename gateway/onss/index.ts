/**
 * The one module that knows ONSS: its shapes, tokens and keys. The forwarder sees only the port
 * (port.ts); the rest is exported for the adapter's own tests and for tools that talk to ONSS directly.
 */
export { type OnssPort, type OutgoingRegistration } from './port.ts';
export { type OnssConnection, type ReadOptions } from './config.ts';
export * from './client.ts';
export * from './client-reference.ts';
export * from './shapes.ts';
export { type TokenErrorCode } from './token.ts';
export { HttpTransport, type TransportErrorCode } from './http.ts';
