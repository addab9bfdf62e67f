import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { exportPKCS8, exportSPKI, generateKeyPair } from 'jose';

/**
 * The key pair the gateway signs its ONSS client assertions with. A real company registers the public key
 * with ONSS through its access manager; the demo registers it with the emulator. Kept in the data directory
 * (private key 0600) so a second run reuses it.
 */
export async function loadOrCreateKeyPair(privatePath: string, publicPath: string): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  if (existsSync(privatePath) && existsSync(publicPath)) {
    return { privateKeyPem: readFileSync(privatePath, 'utf8'), publicKeyPem: readFileSync(publicPath, 'utf8') };
  }
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const privateKeyPem = await exportPKCS8(privateKey);
  const publicKeyPem = await exportSPKI(publicKey);
  writeFileSync(privatePath, privateKeyPem, { mode: 0o600 });
  writeFileSync(publicPath, publicKeyPem, { mode: 0o644 });
  return { privateKeyPem, publicKeyPem };
}
