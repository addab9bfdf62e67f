import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, statSync, type Stats } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SqlStore } from '../store/sql-store.ts';

/**
 * Release bundles kept in the database, for gateways in a cluster (`store.kind: "postgres"`): an upload
 * lands on one instance, and a terminal may ask any instance for the bundle. So on PostgreSQL the bundle's
 * bytes are written in `release_chunks` in the upload's transaction, and an instance that has no good file of
 * a bundle under its own `releases.dir` writes one from the chunks the first time it is asked for it. No file
 * system is shared. On SQLite (one gateway) the bundle is only the file, as it always was.
 *
 * Chunks of 1 MiB: no statement carries a parameter of a whole bundle (up to `releases.maxBytes`), and a
 * bundle is read back one chunk per statement, never held whole in memory.
 */
export const BUNDLE_CHUNK_BYTES = 1024 * 1024;

/** What the `releases` row says about a bundle: what its file must hold. */
export interface BundleRecord {
  version: string;
  sha256: string;
  size: number;
}

/** The file name of a release's bundle under `releases.dir`. */
export const bundleFileName = (version: string): string => `ciao-badge-${version}.tar.gz`;

/**
 * Writes the bundle's chunks, replacing any the version had: in the transaction of its `releases` row (or of
 * the same release uploaded again, which so repairs chunks that were lost or damaged).
 */
export async function writeBundleChunks(tx: SqlStore, version: string, bundle: Buffer): Promise<void> {
  await tx.run('DELETE FROM release_chunks WHERE version = $1', [version]);
  for (let n = 0, at = 0; at < bundle.length; n++, at += BUNDLE_CHUNK_BYTES) {
    await tx.run('INSERT INTO release_chunks (version, n, bytes) VALUES ($1, $2, $3)', [version, n, bundle.subarray(at, at + BUNDLE_CHUNK_BYTES)]);
  }
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What identifies a file's content without reading it again: replaced or rewritten, one of these changes. */
const fingerprintOf = (s: Stats): string => `${s.ino}:${s.size}:${s.mtimeMs}`;

/** The file's fingerprint, or undefined when there is no file. */
function fingerprintAt(path: string): string | undefined {
  const stats = statSync(path, { throwIfNoEntry: false });
  return stats ? fingerprintOf(stats) : undefined;
}

/**
 * One instance's files of the bundles in the database, under its `releases.dir`: checked against the
 * `releases` row before first use, written from the chunks when missing or not the release's bytes.
 */
export class LocalBundles {
  /** One check or write per version at a time: concurrent downloads of a missing bundle write it once. */
  private readonly pending = new Map<string, Promise<string>>();
  /** Files checked by this process (by version), with the fingerprint they had then: not hashed again. */
  private readonly checked = new Map<string, { sha256: string; fingerprint: string }>();

  constructor(private readonly store: SqlStore, private readonly dir: string) {}

  /** The path of a file holding exactly the release's bundle; refused (naming the version) if the database cannot give one. */
  fileOf(release: BundleRecord): Promise<string> {
    const running = this.pending.get(release.version);
    if (running) return running;
    const made = this.ensure(release);
    this.pending.set(release.version, made);
    const forget = () => {
      if (this.pending.get(release.version) === made) this.pending.delete(release.version);
    };
    made.then(forget, forget);
    return made;
  }

  private async ensure(release: BundleRecord): Promise<string> {
    const path = join(this.dir, bundleFileName(release.version));
    const before = fingerprintAt(path);
    if (before) {
      const known = this.checked.get(release.version);
      if (known && known.sha256 === release.sha256 && known.fingerprint === before) return path;
      // Hashed once per process, not trusted for being there: after a crash it may be a rename whose bytes never
      // reached the disk, or another bundle written under the version by an upload that was then refused.
      if ((await sha256OfFile(path)) === release.sha256 && fingerprintAt(path) === before) {
        this.checked.set(release.version, { sha256: release.sha256, fingerprint: before });
        return path;
      }
    }
    this.checked.set(release.version, { sha256: release.sha256, fingerprint: await this.writeFromChunks(release, path) });
    return path;
  }

  /**
   * Chunk after chunk into a temporary file, hashed on the way; renamed into place only if it is the release's
   * bundle. Gives the fingerprint of the file written.
   */
  private async writeFromChunks(release: BundleRecord, path: string): Promise<string> {
    const refuse = (why: string) =>
      new Error(`release ${release.version}: ${why}; the bundle is not served. Upload the same release again (ciao release upload) to write its bundle to the database anew`);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.${randomUUID()}.tmp`;
    const out = await open(tmp, 'wx', 0o600);
    const hash = createHash('sha256');
    let written = 0;
    try {
      try {
        for (let n = 0; written < release.size; n++) {
          const chunk = await this.store.one<{ bytes: Buffer }>('SELECT bytes FROM release_chunks WHERE version = $1 AND n = $2', [release.version, n]);
          if (!chunk) {
            throw refuse(n === 0
              ? 'this instance has no file of its bundle and the database holds none (uploaded before bundles were kept in the database?)'
              : `its bundle in the database ends at chunk ${n} after ${written} of ${release.size} bytes`);
          }
          written += chunk.bytes.length;
          if (written > release.size) throw refuse(`its bundle in the database is longer than the ${release.size} bytes of its manifest`);
          hash.update(chunk.bytes);
          for (let at = 0; at < chunk.bytes.length;) at += (await out.write(chunk.bytes, at)).bytesWritten;
        }
      } finally {
        await out.close();
      }
      const sha = hash.digest('hex');
      if (sha !== release.sha256) throw refuse(`its bundle in the database has SHA-256 ${sha.slice(0, 16)}…, not the release's ${release.sha256.slice(0, 16)}… (damaged)`);
      const fingerprint = fingerprintAt(tmp)!;
      await rename(tmp, path);
      return fingerprint;
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}
