import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '../../shared/problems.ts';
import { parseWith } from '../../shared/schema.ts';
import type { EmulatorClient } from './auth.ts';
import { readJsonFile } from '../../shared/json-file.ts';

export type { EmulatorClient } from './auth.ts';

/**
 * The clients file (`--clients FILE`): the accounts whose public keys the access manager "registered".
 * [ { "clientId": "ciao-gateway", "publicKeyPem": "-----BEGIN PUBLIC KEY-----..." },
 *   { "clientId": "other", "publicKeyFile": "other.pub.pem" },
 *   { "clientId": "third", "jwk": { "kty": "RSA", "n": "...", "e": "AQAB" } } ]
 * A relative publicKeyFile is taken from the clients file's folder.
 */
const clientsSchema = z.array(
  z.object({
    clientId: z.string().min(1, 'must not be empty'),
    publicKeyPem: z.string().includes('-----BEGIN PUBLIC KEY-----', { message: 'must be an SPKI PEM public key' }).optional(),
    publicKeyFile: z.string().min(1).optional(),
    jwk: z.record(z.string(), z.unknown()).optional(),
  }).refine((c) => c.publicKeyPem || c.publicKeyFile || c.jwk, { message: 'needs publicKeyPem, publicKeyFile or jwk' }),
);

export function loadClients(path: string): EmulatorClient[] {
  const raw = readJsonFile(path, 'clients file');
  const r = parseWith(clientsSchema, raw);
  if (!r.ok) throw new InvalidInputError(r.problems.map((p) => ({ ...p, message: `clients file ${path}: ${p.message}` })));
  return r.value.map((c) => ({
    clientId: c.clientId,
    publicKeyPem: c.publicKeyPem ?? (c.publicKeyFile ? readFileSync(resolve(dirname(path), c.publicKeyFile), 'utf8') : undefined),
    jwk: c.jwk as EmulatorClient['jwk'],
  }));
}
