import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A throwaway CA and a server certificate for 127.0.0.1 it signed, made with the openssl CLI. */
export function makeCa(dir: string, name: string): { caPath: string; key: string; cert: string } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name} CA`, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`]);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', `${name}-server.key`, '-out', `${name}-server.csr`]);
  writeFileSync(join(dir, `${name}-ext.cnf`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', `${name}-server.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}-ext.cnf`, '-out', `${name}-server.pem`]);
  return { caPath: join(dir, `${name}-ca.pem`), key: readFileSync(join(dir, `${name}-server.key`), 'utf8'), cert: readFileSync(join(dir, `${name}-server.pem`), 'utf8') };
}
