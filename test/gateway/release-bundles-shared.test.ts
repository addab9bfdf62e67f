import { afterAll, describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SqlParams, SqlStore } from '../../gateway/store/sql-store.ts';
import { ReleaseStore } from '../../gateway/fleet/releases.ts';
import { BUNDLE_CHUNK_BYTES } from '../../gateway/fleet/bundle-chunks.ts';
import { signManifest, type SignedManifest } from '../../shared/release/manifest.ts';
import { storeKinds } from '../support/sql-stores.ts';

/**
 * Release bundles that every gateway instance of a cluster serves (gateway/fleet/bundle-chunks.ts). On
 * PostgreSQL an upload through one instance writes the bundle's chunks with its `releases` row, and another
 * instance (another store on the same database, another `releases.dir`) writes its own file from them when
 * a terminal first asks, checked against the release's SHA-256: written once for concurrent downloads,
 * written again when its file is not the release's bytes, refused (naming the version) when the database's
 * bundle is damaged or missing, repaired by uploading the same release again. On SQLite nothing of this:
 * the bundle is the upload's file, and no chunk is written.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const ADA = { kind: 'user', id: 'u-ada', name: 'Ada Admin' } as const;
const T0 = new Date('2026-12-02T09:00:00.000Z');
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const MAX_BYTES = 8 * BUNDLE_CHUNK_BYTES;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A bundle of two and a half chunks (random bytes) and its signed manifest. */
function release(version: string, bundle: Buffer = randomBytes(2 * BUNDLE_CHUNK_BYTES + BUNDLE_CHUNK_BYTES / 2)): { bundle: Buffer; signed: SignedManifest } {
  const signed = signManifest({ v: 1, product: 'ciao-badge', version, sha256: sha256(bundle), size: bundle.length, createdAt: '2026-12-01T12:00:00.000Z' }, privateKey);
  return { bundle, signed };
}

/** A gateway instance's releases: its own store's connection to the database, its own `releases.dir`. */
function instance(store: SqlStore): { releases: ReleaseStore; dir: string } {
  const dir = join(mkdtempSync(join(tmpdir(), 'ciao-bundles-')), 'releases');
  return { releases: new ReleaseStore(store, dir, publicKey, MAX_BYTES), dir };
}

/** The store, counting the chunk reads made through it. */
function countingChunkReads(store: SqlStore): { store: SqlStore; chunkReads: () => number } {
  let reads = 0;
  const counted: SqlStore = {
    dialect: store.dialect,
    all: (sql, params) => store.all(sql, params),
    one: <T,>(sql: string, params?: SqlParams) => {
      if (sql.includes('FROM release_chunks')) reads++;
      return store.one<T>(sql, params);
    },
    run: (sql, params) => store.run(sql, params),
    transaction: (fn) => store.transaction(fn),
    close: () => store.close(),
  };
  return { store: counted, chunkReads: () => reads };
}

const chunksOf = (store: SqlStore, version: string) =>
  store.all<{ n: number; bytes: Buffer }>('SELECT n, bytes FROM release_chunks WHERE version = $1 ORDER BY n', [version]);

/** What `file()` refused with, or 'served'. */
async function refusalOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'served';
  } catch (err) {
    return (err as Error).message;
  }
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe.each(kinds.filter((k) => k.kind === 'postgres').map((k) => [k.kind, k] as const))('release bundles shared by the instances (%s)', (_kind, k) => {
  it('keeps an upload\'s bundle in 1 MiB chunks with its row; another instance serves the same bytes from a file of its own', async () => {
    const storeA = await k.fresh();
    const a = instance(storeA);
    const storeB = await k.second(storeA);
    const b = instance(storeB);
    const r = release('2.0.0');
    await a.releases.add(r.signed, r.bundle, ADA, T0);

    const chunks = await chunksOf(storeB, '2.0.0');
    expect(chunks.map((c) => [c.n, c.bytes.length])).toEqual([[0, BUNDLE_CHUNK_BYTES], [1, BUNDLE_CHUNK_BYTES], [2, BUNDLE_CHUNK_BYTES / 2]]);
    expect(Buffer.concat(chunks.map((c) => c.bytes)).equals(r.bundle)).toBe(true);

    expect(existsSync(b.dir)).toBe(false);
    const served = await b.releases.file('2.0.0');
    expect(served).toEqual({ path: join(b.dir, 'ciao-badge-2.0.0.tar.gz'), size: r.bundle.length });
    const bytes = readFileSync(served!.path);
    expect(sha256(bytes)).toBe(r.signed.manifest.sha256);
    expect(bytes.equals(r.bundle)).toBe(true);
    expect(mode(served!.path)).toBe(0o600);
    expect(mode(b.dir)).toBe(0o700);
    expect(readdirSync(b.dir)).toEqual(['ciao-badge-2.0.0.tar.gz']);
    // The uploading instance serves its own file.
    expect(await a.releases.file('2.0.0')).toEqual({ path: join(a.dir, 'ciao-badge-2.0.0.tar.gz'), size: r.bundle.length });
    expect(await b.releases.file('9.9.9')).toBeUndefined();
  });

  it('writes a missing bundle once for concurrent downloads, checks a file once, and writes again a file that is not the release\'s bytes', async () => {
    const store = await k.fresh();
    const a = instance(store);
    const counted = countingChunkReads(await k.second(store));
    const b = instance(counted.store);
    const r = release('2.1.0');
    await a.releases.add(r.signed, r.bundle, ADA, T0);

    const served = await Promise.all(Array.from({ length: 5 }, () => b.releases.file('2.1.0')));
    expect(new Set(served.map((s) => s!.path))).toEqual(new Set([join(b.dir, 'ciao-badge-2.1.0.tar.gz')]));
    expect(counted.chunkReads()).toBe(3);
    expect(readdirSync(b.dir)).toEqual(['ciao-badge-2.1.0.tar.gz']);

    await b.releases.file('2.1.0');
    expect(counted.chunkReads()).toBe(3);

    // Another bundle's bytes under the version's name (same size): not served, written again from the chunks.
    const path = served[0]!.path;
    writeFileSync(path, randomBytes(r.bundle.length));
    expect((await b.releases.file('2.1.0'))!.path).toBe(path);
    expect(counted.chunkReads()).toBe(6);
    expect(readFileSync(path).equals(r.bundle)).toBe(true);

    // A file this process did not check (another run of the instance): hashed, kept when it is the release's bytes.
    const c = new ReleaseStore(counted.store, b.dir, publicKey, MAX_BYTES);
    expect((await c.file('2.1.0'))!.path).toBe(path);
    expect(counted.chunkReads()).toBe(6);
  });

  it('refuses a damaged, truncated or missing bundle in the database, naming the version, leaves no file; the same upload again repairs it', async () => {
    const store = await k.fresh();
    const a = instance(store);
    const storeB = await k.second(store);
    const r = release('2.2.0');
    await a.releases.add(r.signed, r.bundle, ADA, T0);

    const damaged = Buffer.from((await chunksOf(store, '2.2.0'))[1]!.bytes);
    damaged[100] ^= 1;
    await store.run('UPDATE release_chunks SET bytes = $1 WHERE version = $2 AND n = 1', [damaged, '2.2.0']);
    const b = instance(storeB);
    expect(await refusalOf(b.releases.file('2.2.0'))).toMatch(/^release 2\.2\.0: its bundle in the database has SHA-256 [0-9a-f]{16}…, not the release's [0-9a-f]{16}… \(damaged\); the bundle is not served/);
    expect(readdirSync(b.dir)).toEqual([]);

    await store.run('DELETE FROM release_chunks WHERE version = $1 AND n = 2', ['2.2.0']);
    expect(await refusalOf(b.releases.file('2.2.0'))).toMatch(/^release 2\.2\.0: its bundle in the database ends at chunk 2 after 2097152 of 2621440 bytes; the bundle is not served/);

    await store.run('DELETE FROM release_chunks WHERE version = $1', ['2.2.0']);
    expect(await refusalOf(b.releases.file('2.2.0'))).toMatch(/^release 2\.2\.0: this instance has no file of its bundle and the database holds none .*Upload the same release again/);
    expect(readdirSync(b.dir)).toEqual([]);

    // Uploaded again (to any instance): accepted as is, its chunks written anew.
    await instance(storeB).releases.add(r.signed, r.bundle, ADA, T0);
    expect(Buffer.concat((await chunksOf(store, '2.2.0')).map((c) => c.bytes)).equals(r.bundle)).toBe(true);
    expect(readFileSync((await b.releases.file('2.2.0'))!.path).equals(r.bundle)).toBe(true);
  });

  it('writes no chunk for a refused upload, and keeps a version\'s chunks when another bundle under it is refused', async () => {
    const store = await k.fresh();
    const a = instance(store);
    const r = release('2.3.0');
    const tampered = Buffer.from(r.bundle);
    tampered[0] ^= 1;
    expect(await refusalOf(a.releases.add(r.signed, tampered, ADA, T0))).toMatch(/sha256|SHA-256/);
    expect(await store.all('SELECT version FROM release_chunks')).toEqual([]);
    await a.releases.add(r.signed, r.bundle, ADA, T0);
    const rebuilt = release('2.3.0');
    expect(await refusalOf(a.releases.add(rebuilt.signed, rebuilt.bundle, ADA, T0))).toMatch(/^version: 2\.3\.0 was uploaded already with another bundle/);
    expect(Buffer.concat((await chunksOf(store, '2.3.0')).map((c) => c.bytes)).equals(r.bundle)).toBe(true);
  });
});

describe.each(kinds.filter((k) => k.kind === 'sqlite').map((k) => [k.kind, k] as const))('release bundles on one gateway (%s)', (_kind, k) => {
  it('keeps the bundle as the upload\'s file under releases.dir and writes no chunk', async () => {
    const store = await k.fresh();
    const a = instance(store);
    const r = release('2.0.0');
    await a.releases.add(r.signed, r.bundle, ADA, T0);
    const path = join(a.dir, 'ciao-badge-2.0.0.tar.gz');
    expect(await a.releases.file('2.0.0')).toEqual({ path, size: r.bundle.length });
    expect(readFileSync(path).equals(r.bundle)).toBe(true);
    expect(await store.all('SELECT version FROM release_chunks')).toEqual([]);
    // Another store on the same file, with another dir, names the upload's file, as before.
    const b = instance(await k.second(store));
    expect(await b.releases.file('2.0.0')).toEqual({ path, size: r.bundle.length });
    expect(existsSync(b.dir)).toBe(false);
    // The same upload again writes no chunk either.
    await a.releases.add(r.signed, r.bundle, ADA, T0);
    expect(await store.all('SELECT version FROM release_chunks')).toEqual([]);
  });
});
