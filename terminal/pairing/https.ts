import { request } from 'node:https';

/**
 * One HTTPS request to the gateway's pairing listener, with the gateway's CA pinned (`ca`; none only for the
 * very first call of pairing, whose answer is checked against the fingerprint before any use) and, once
 * paired with a certificate, the terminal's client certificate.
 */
export interface HttpsCall {
  method: 'GET' | 'POST';
  body?: unknown;
  /** Pinned CA (PEM); absent: nothing is trusted and the caller checks what it got. */
  ca?: string | Buffer;
  key?: string;
  cert?: string;
  timeoutMs?: number;
}

export function httpsJson(url: URL, o: HttpsCall): Promise<{ status: number; text: string }> {
  return new Promise((resolvePromise, reject) => {
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const timeoutMs = o.timeoutMs ?? 15_000;
    const req = request(url, {
      method: o.method,
      ...(o.ca ? { ca: o.ca, rejectUnauthorized: true } : { rejectUnauthorized: false }),
      ...(o.key && o.cert ? { key: o.key, cert: o.cert } : {}),
      headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within ${Math.round(timeoutMs / 1000)} s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The `detail` of a problem+json answer, or the text as it came. */
export function problemDetail(text: string): string {
  try {
    return (JSON.parse(text) as { detail?: string }).detail ?? text;
  } catch {
    return text;
  }
}
