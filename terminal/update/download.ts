import { createHash } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { request } from 'node:https';
import type { ReleaseManifest } from '../../shared/release/manifest.ts';

/**
 * Downloads a release bundle over HTTPS from the gateway (its CA pinned, the terminal's client certificate
 * presented) into `file`, hashing as it goes. Never more than the manifest's size is written; a download
 * that ends short (a cut connection, a gateway restarting) or whose SHA-256 is not the signed one fails,
 * and its file is removed. Only then does the caller unpack anything.
 */
export interface DownloadOptions {
  url: URL;
  file: string;
  manifest: ReleaseManifest;
  ca: Buffer;
  key?: string;
  cert?: string;
  /** No byte for this long: the download is given up. */
  idleTimeoutMs?: number;
}

export class DownloadError extends Error {
  constructor(message: string, readonly kind: 'network' | 'truncated' | 'too-large' | 'hash' | 'refused') {
    super(message);
    this.name = 'DownloadError';
  }

  /** Worth another try later (the network), as opposed to a bundle that is simply not the signed one. */
  get transient(): boolean {
    return this.kind === 'network' || this.kind === 'truncated';
  }
}

export function downloadBundle(o: DownloadOptions): Promise<{ sha256: string; size: number }> {
  const { size: expected, sha256 } = o.manifest;
  return new Promise((resolve, reject) => {
    let settled = false;
    const out = createWriteStream(o.file, { mode: 0o600 });
    const fail = (err: DownloadError) => {
      if (settled) return;
      settled = true;
      req.destroy();
      // The file is opened asynchronously: a stream destroyed before its open completes still creates the
      // file when the open lands. Remove it once the stream has closed, and only then report the failure.
      const remove = () => {
        rmSync(o.file, { force: true });
        reject(err);
      };
      if (out.closed) remove();
      else {
        out.once('close', remove);
        out.destroy();
      }
    };
    const req = request(o.url, { method: 'GET', ca: o.ca, rejectUnauthorized: true, ...(o.key && o.cert ? { key: o.key, cert: o.cert } : {}), timeout: o.idleTimeoutMs ?? 30_000 }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return fail(new DownloadError(`the gateway answered ${res.statusCode} for ${o.url.pathname}`, res.statusCode === 404 || res.statusCode === 401 ? 'refused' : 'network'));
      }
      const hash = createHash('sha256');
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > expected) return fail(new DownloadError(`the bundle is longer than the signed ${expected} bytes`, 'too-large'));
        hash.update(chunk);
        if (!out.write(chunk)) res.pause();
      });
      out.on('drain', () => res.resume());
      res.on('aborted', () => fail(new DownloadError(`the download was cut after ${received} of ${expected} bytes`, 'truncated')));
      res.on('error', (err) => fail(new DownloadError(`the download failed after ${received} of ${expected} bytes: ${err.message}`, 'truncated')));
      res.on('end', () => {
        if (settled) return;
        if (received !== expected) return fail(new DownloadError(`the download ended after ${received} of ${expected} bytes (truncated)`, 'truncated'));
        const seen = hash.digest('hex');
        if (seen !== sha256) return fail(new DownloadError(`the bundle's SHA-256 ${seen.slice(0, 16)}… is not the signed ${sha256.slice(0, 16)}…`, 'hash'));
        out.end(() => {
          if (settled) return;
          settled = true;
          resolve({ sha256: seen, size: received });
        });
      });
    });
    req.on('timeout', () => fail(new DownloadError(`no data from the gateway for ${Math.round((o.idleTimeoutMs ?? 30_000) / 1000)} s`, 'network')));
    req.on('error', (err) => fail(new DownloadError(`cannot download from ${o.url.origin}: ${err.message}`, 'network')));
    out.on('error', (err) => fail(new DownloadError(`cannot write ${o.file}: ${err.message}`, 'network')));
    req.end();
  });
}
