import { randomUUID, type KeyObject } from 'node:crypto';
import { isTransportError, retryAfterMs, type HttpTransport } from './http.ts';
import { readProblem, TOKEN_PATH } from './shapes.ts';

/**
 * Access tokens for the ONSS REST services: OAuth 2.0 client credentials with a JWT client assertion
 * (RFC 7523) signed RS256 with the company's private key. The token is cached, refreshed a margin before it
 * expires, dropped when ONSS answers 401, and fetched once for concurrent callers.
 */
export interface TokenOptions {
  clientId: string;
  /** The company's RSA private key, read and checked once at start-up (gateway/onss/config.ts). */
  signingKey: KeyObject;
  keyId?: string;
  audience: string;
  /** Lifetime of each client assertion; ONSS wants a short one. */
  assertionLifetimeSeconds?: number;
  /** Refresh this long before the token expires. */
  refreshMarginSeconds?: number;
}

/**
 * Stable codes (`err.code === 'ONSS_TOKEN_REFUSED'`):
 * - `ONSS_TOKEN_REFUSED`: 400/401/403: the key, the client id or the clock is wrong; retrying will not help
 *   until someone acts;
 * - `ONSS_TOKEN_RATE_LIMITED`: 429, with the wait ONSS asked for in `retryAfterMs`;
 * - `ONSS_TOKEN_UNAVAILABLE`: the token endpoint could not be reached or failed (5xx, unreadable answer).
 */
export type TokenErrorCode = 'ONSS_TOKEN_REFUSED' | 'ONSS_TOKEN_RATE_LIMITED' | 'ONSS_TOKEN_UNAVAILABLE';

class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(readonly code: TokenErrorCode, message: string, readonly status?: number, readonly retryAfterMs?: number) {
    super(message);
  }
}

export function isTokenError(e: unknown): e is TokenError {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && (code === 'ONSS_TOKEN_REFUSED' || code === 'ONSS_TOKEN_RATE_LIMITED' || code === 'ONSS_TOKEN_UNAVAILABLE');
}

function tokenErrorCode(status: number): TokenErrorCode {
  if (status === 400 || status === 401 || status === 403) return 'ONSS_TOKEN_REFUSED';
  if (status === 429) return 'ONSS_TOKEN_RATE_LIMITED';
  return 'ONSS_TOKEN_UNAVAILABLE';
}

export class TokenProvider {
  private cached: { token: string; refreshAt: number } | undefined;
  private inFlight: Promise<string> | undefined;

  constructor(private readonly http: HttpTransport, private readonly options: TokenOptions) {}

  async token(): Promise<string> {
    if (this.cached && Date.now() < this.cached.refreshAt) return this.cached.token;
    this.inFlight ??= this.fetch().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** ONSS refused the token (401): forget it so the next call fetches a new one. */
  invalidate(token?: string): void {
    if (!token || this.cached?.token === token) this.cached = undefined;
  }

  async assertion(): Promise<string> {
    // The JOSE library is loaded at the first token, not with the gateway (tens of milliseconds of start-up).
    const { SignJWT } = await import('jose');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(this.options.keyId ? { kid: this.options.keyId } : {}) })
      .setIssuer(this.options.clientId)
      .setSubject(this.options.clientId)
      .setAudience(this.options.audience)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + (this.options.assertionLifetimeSeconds ?? 120))
      .setJti(randomUUID())
      .sign(this.options.signingKey);
  }

  private async fetch(): Promise<string> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await this.assertion(),
    });
    let res;
    try {
      res = await this.http.request('POST', TOKEN_PATH, { contentType: 'application/x-www-form-urlencoded', text: form.toString() });
    } catch (e) {
      if (isTransportError(e)) throw new TokenError('ONSS_TOKEN_UNAVAILABLE', `token endpoint unreachable: ${e.message}`);
      throw e;
    }
    const body = res.body as { access_token?: unknown; expires_in?: unknown } | undefined;
    if (res.status === 200 && typeof body?.access_token === 'string') {
      const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 300;
      const margin = Math.min(this.options.refreshMarginSeconds ?? 60, ttl / 5);
      this.cached = { token: body.access_token, refreshAt: Date.now() + (ttl - margin) * 1000 };
      return body.access_token;
    }
    const p = readProblem(res.body);
    const detail = p?.detail ?? p?.title ?? res.text.slice(0, 200);
    throw new TokenError(tokenErrorCode(res.status), `token endpoint answered ${res.status}: ${detail}`, res.status, res.status === 429 ? retryAfterMs(res.headers['retry-after']) : undefined);
  }
}
