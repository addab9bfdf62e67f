import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addKeyVersion, createKeyFile, keyCheckValue, loadKeyRing, parseKeyRing, readKeyFile, removeKeyVersion } from '../../gateway/badge-security/key-ring.ts';
import { parseGatewayConfig } from '../../gateway/config.ts';

/** The badge master key file: its form, its privacy, the environment, and rotation by versions. */
const K = (b: number) => Buffer.alloc(16, b).toString('hex');
const version = (b: number) => ({ application: K(b), sdmMetaRead: K(b + 1), sdmFileRead: K(b + 2) });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ciao-keys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(fn: () => unknown): Array<{ field: string; rule: string; message: string }> {
  try {
    fn();
  } catch (err) {
    return (err as { problems: Array<{ field: string; rule: string; message: string }> }).problems;
  }
  throw new Error('expected a refusal');
}

describe('the key file', () => {
  it('holds several versions and names the current one', () => {
    const ring = parseKeyRing({ current: 2, versions: { 1: version(1), 2: version(7) } }, 'keys.json');
    expect(ring.current).toBe(2);
    expect([...ring.versions.keys()].sort()).toEqual([1, 2]);
    expect(ring.versions.get(2)!.sdmFileRead.equals(Buffer.alloc(16, 9))).toBe(true);
  });

  it('names each bad field and its rule', () => {
    expect(problemsOf(() => parseKeyRing({ current: 3, versions: { 1: version(1) } }, 'k.json'))).toEqual([
      { field: 'current', rule: 'exists', message: 'k.json: current: version 3 is not in versions' },
    ]);
    const bad = problemsOf(() => parseKeyRing({ current: 1, versions: { 1: { ...version(1), sdmFileRead: 'abc' }, 300: version(2) } }, 'k.json'));
    expect(bad.map((p) => [p.field, p.rule])).toEqual(expect.arrayContaining([['versions.1.sdmFileRead', 'format'], ['versions.300', 'key-version']]));
    expect(problemsOf(() => parseKeyRing({ current: 1, versions: { 1: { ...version(1), application: '0'.repeat(32) } } }, 'k.json'))).toMatchObject([
      { field: 'versions.1.application', rule: 'not-factory-key' },
    ]);
    expect(problemsOf(() => parseKeyRing({ current: 1, versions: { 1: { ...version(1), extra: K(3) } } }, 'k.json'))[0]!.rule).toBe('unknown-field');
  });

  it('is refused when its group or others may read it, naming the field the path came from', () => {
    const path = join(dir, 'keys.json');
    writeFileSync(path, JSON.stringify({ current: 1, versions: { 1: version(1) } }), { mode: 0o600 });
    expect(readKeyFile(path, 'badgeSecurity.keyFile').current).toBe(1);
    chmodSync(path, 0o640);
    const [p] = problemsOf(() => readKeyFile(path, 'badgeSecurity.keyFile'));
    expect(p).toMatchObject({ field: 'badgeSecurity.keyFile', rule: 'private-file' });
    expect(p!.message).toContain('mode 0640');
    chmodSync(path, 0o604);
    expect(problemsOf(() => readKeyFile(path, 'x'))[0]!.rule).toBe('private-file');
    expect(problemsOf(() => readKeyFile(join(dir, 'missing.json'), 'x'))[0]!.rule).toBe('readable-file');
  });

  it('may come from the environment instead, which wins over any file', () => {
    const path = join(dir, 'keys.json');
    writeFileSync(path, JSON.stringify({ current: 1, versions: { 1: version(1) } }), { mode: 0o600 });
    const env = { CIAO_GATEWAY_BADGE_KEYS: JSON.stringify({ current: 4, versions: { 4: version(40) } }) };
    expect(loadKeyRing({ file: path, env }).current).toBe(4);
    expect(loadKeyRing({ file: path, env: {} }).current).toBe(1);
    expect(loadKeyRing({ env: { CIAO_GATEWAY_BADGE_KEY_FILE: path } }).current).toBe(1);
    expect(loadKeyRing({ env: {} }).versions.size).toBe(0);
    expect(problemsOf(() => loadKeyRing({ env: { CIAO_GATEWAY_BADGE_KEYS: '{nope' } }))[0]).toMatchObject({ field: 'CIAO_GATEWAY_BADGE_KEYS', rule: 'json' });
  });

  it("is named in the gateway config, its path resolved from the config file's folder (or the environment)", () => {
    const c = parseGatewayConfig({ database: 'gw.db', badgeSecurity: { keyFile: 'secrets/badge-keys.json' } }, '/etc/ciao', {});
    expect(c.badgeSecurity).toEqual({ keyFile: '/etc/ciao/secrets/badge-keys.json', reorderToleranceSeconds: 120 });
    expect(parseGatewayConfig({ database: 'gw.db' }, '/etc/ciao', { CIAO_GATEWAY_BADGE_KEY_FILE: '/run/credentials/keys' }).badgeSecurity.keyFile).toBe('/run/credentials/keys');
    expect(() => parseGatewayConfig({ database: 'gw.db', badgeSecurity: { keyfile: 'x' } }, '/etc/ciao', {})).toThrow(/keyfile: unknown field/);
  });
});

describe('creating and rotating keys', () => {
  it('creates a private file of fresh keys, never over an existing one', () => {
    const path = join(dir, 'keys.json');
    const ring = createKeyFile(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(ring.current).toBe(1);
    expect(readKeyFile(path, 'x').versions.get(1)!.application.equals(ring.versions.get(1)!.application)).toBe(true);
    const before = readFileSync(path, 'utf8');
    expect(problemsOf(() => createKeyFile(path))[0]!.rule).toBe('exists');
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('adds the next version as current and keeps the earlier ones; removes a retired one, never the current', () => {
    const path = join(dir, 'keys.json');
    const first = createKeyFile(path);
    const second = addKeyVersion(path);
    expect(second.current).toBe(2);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const onDisk = readKeyFile(path, 'x');
    expect([...onDisk.versions.keys()].sort()).toEqual([1, 2]);
    expect(onDisk.versions.get(1)!.sdmFileRead.equals(first.versions.get(1)!.sdmFileRead)).toBe(true);
    expect(onDisk.versions.get(2)!.sdmFileRead.equals(first.versions.get(1)!.sdmFileRead)).toBe(false);
    expect(problemsOf(() => removeKeyVersion(path, 2))[0]!.rule).toBe('not-current');
    expect([...removeKeyVersion(path, 1).versions.keys()]).toEqual([2]);
    expect([...readKeyFile(path, 'x').versions.keys()]).toEqual([2]);
  });

  // Changing a file's owner needs root, as the operator rotating /etc/ciao/badge-keys.json is.
  it.skipIf(process.getuid?.() !== 0)('keeps the owner of the file it rotates, so the gateway user can still read it', () => {
    const path = join(dir, 'keys.json');
    createKeyFile(path);
    chownSync(path, 65534, 65534);
    addKeyVersion(path);
    expect(statSync(path)).toMatchObject({ uid: 65534, gid: 65534 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('shows keys by check value only: the AES-CMAC of nothing, first 3 bytes (RFC 4493 example 1 key: BB1D69)', () => {
    expect(keyCheckValue(Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex'))).toBe('BB1D69');
  });
});
