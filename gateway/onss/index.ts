export * from './client.ts';
export * from './client-reference.ts';
export * from './shapes.ts';
export { TokenProvider, TokenError } from './token.ts';
export { HttpTransport, TransportError, retryAfterMs } from './http.ts';
