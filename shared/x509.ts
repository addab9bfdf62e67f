// @peculiar/x509 resolves its ASN.1 schemas through a dependency-injection container that needs the Reflect
// metadata API, and does its cryptography through WebCrypto: both are set up here, once, before any use.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
export const subtle = webcrypto.subtle;

/** ECDSA over P-256 with SHA-256: what the gateway's CA and the terminals' keys use. */
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
