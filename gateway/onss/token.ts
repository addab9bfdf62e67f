import { randomUUID } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { retryAfterMs, TransportError, type HttpTransport } from './http.ts';
import { readProblem, TOKEN_PATH } from './shapes.ts';

/**
 * Access tokens for the ONSS REST services: OAuth 2.0 client credentials with a JWT client assertion
 * (RFC 7523) signed RS256 with the company's private key. The token is cached, refreshed a margin before it
 * expires, dropped when ONSS answers 401, and fetched once for concurrent callers.
 */
export interface TokenOptions {
  clientId: string;
  privateKeyPem: string;
  keyId?: string;
  audience: string;
  /** Lifetime of each client assertion; ONSS wants a short one. */
  assertionLifetimeSeconds?: number;
  /** Refresh this long before the token expires. */
  refreshMarginSeconds?: number;
}

export class TokenError extends Error {
  constructor(message: string, readonly status: number | undefined, readonly permanent: boolean, readonly retryAfterMs?: number) {
    super(message);
    this.name = 'TokenError';
  }
}

export class TokenProvider {
  private key: ReturnType<typeof importPKCS8> | undefined;
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
    this.key ??= importPKCS8(this.options.privateKeyPem, 'RS256');
    const key = await this.key;
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
      .sign(key);
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
      if (e instanceof TransportError) throw new TokenError(`token endpoint unreachable: ${e.message}`, undefined, false);
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
    // 400/401/403 mean our key, client id or clock is wrong: retrying will not help until someone acts.
    const permanent = res.status === 400 || res.status === 401 || res.status === 403;
    throw new TokenError(`token endpoint answered ${res.status}: ${detail}`, res.status, permanent, res.status === 429 ? retryAfterMs(res.headers['retry-after']) : undefined);
  }
}
