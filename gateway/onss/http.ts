import http from 'node:http';
import https from 'node:https';

/**
 * The HTTP edge toward ONSS: keep-alive connections, a configurable CA for HTTPS, and a hard timeout per
 * request. Failures are told apart by whether the request may have reached the service:
 * `ONSS_NOT_SENT` (connection refused, DNS): certainly not processed; `ONSS_NO_ANSWER` (reset, timeout,
 * closed after the request was written): ONSS may have processed it, so the caller must reconcile before
 * resending.
 */
export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  text: string;
}

/**
 * Stable codes, as Node and fastify use them (`err.code === 'ONSS_NO_ANSWER'`):
 * - `ONSS_NOT_SENT`: the request certainly did not reach the service (refused, DNS, TLS trust);
 * - `ONSS_NO_ANSWER`: it may have reached it (reset, timeout, hang-up after it was written).
 */
export type TransportErrorCode = 'ONSS_NOT_SENT' | 'ONSS_NO_ANSWER';

class TransportError extends Error {
  override readonly name = 'TransportError';
  /** `failure` is the short cause kept in the records: `timeout`, `connection reset`, `ECONNREFUSED`, ... */
  constructor(readonly code: TransportErrorCode, readonly failure: string, message: string) {
    super(message);
  }
}

export function isTransportError(e: unknown): e is TransportError {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && (code === 'ONSS_NOT_SENT' || code === 'ONSS_NO_ANSWER');
}

export interface HttpOptions {
  baseUrl: string;
  ca?: string;
  timeoutMs: number;
  maxSockets?: number;
}

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID']);

export class HttpTransport {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;

  constructor(private readonly options: HttpOptions) {
    this.base = new URL(options.baseUrl);
    const secure = this.base.protocol === 'https:';
    this.mod = secure ? https : http;
    this.agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 8, ca: options.ca })
      : new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 8 });
  }

  request(method: 'GET' | 'POST', path: string, body?: { contentType: string; text: string }, headers: Record<string, string> = {}): Promise<HttpResponse> {
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      let written = false;
      let settled = false;
      const fail = (e: TransportError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(e);
      };
      const req = this.mod.request(url, {
        method,
        agent: this.agent,
        headers: {
          accept: 'application/json, application/problem+json',
          ...headers,
          ...(body ? { 'content-type': body.contentType, 'content-length': String(Buffer.byteLength(body.text)) } : {}),
        },
      });
      const timer = setTimeout(() => {
        fail(new TransportError(written ? 'ONSS_NO_ANSWER' : 'ONSS_NOT_SENT', 'timeout', `${method} ${url.pathname}: no answer within ${this.options.timeoutMs} ms`));
        req.destroy();
      }, this.options.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? 'ERROR';
        const certain = NOT_SENT_CODES.has(code) || (!written && code === 'ECONNREFUSED');
        fail(new TransportError(certain ? 'ONSS_NOT_SENT' : 'ONSS_NO_ANSWER', code === 'ECONNRESET' ? 'connection reset' : code, `${method} ${url.pathname}: ${err.message}`));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => fail(new TransportError('ONSS_NO_ANSWER', 'connection reset', `${method} ${url.pathname}: ${err.message}`)));
        res.on('aborted', () => fail(new TransportError('ONSS_NO_ANSWER', 'connection reset', `${method} ${url.pathname}: answer cut short`)));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text.length > 0 ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
        });
      });
      // Once any byte may have left, ONSS may act on the request.
      req.on('socket', () => {
        written = true;
      });
      if (body) req.end(body.text);
      else req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
