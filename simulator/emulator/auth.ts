import { randomBytes } from 'node:crypto';
import { decodeJwt, importJWK, importSPKI, jwtVerify, type JWK } from 'jose';
import type { EmulatorStore } from './store.ts';

/**
 * The OAuth 2.0 client-credentials flow with a signed JWT client assertion (RFC 7523), as the ONSS REST
 * services use it: the client signs `{iss, sub, aud, exp, jti}` with RS256 using the private key whose
 * public half the company's access manager registered; the service answers an opaque Bearer token.
 */
export interface EmulatorClient {
  clientId: string;
  publicKeyPem?: string;
  jwk?: JWK;
}

type VerifyKey = Awaited<ReturnType<typeof importSPKI>>;

export interface TokenGrant {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export class AuthError extends Error {
  constructor(readonly status: number, readonly problemType: string, readonly title: string, detail: string) {
    super(detail);
  }
}

const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface TokenServiceOptions {
  tokenTtlSeconds: number;
  maxAssertionLifetimeSeconds: number;
  audiences: () => string[];
  /** The clock access tokens expire by (milliseconds); Date.now unless a test moves time itself. */
  now?: () => number;
}

export class TokenService {
  private readonly keys = new Map<string, Promise<VerifyKey>>();
  /**
   * The access tokens granted and not yet forgotten. Every grant first forgets the expired ones, so the map
   * holds at most the tokens of one lifetime: a client that logs in again and again for days, and never shows
   * its old tokens again, must not make the service grow.
   */
  private readonly tokens = new Map<string, { clientId: string; expiresAt: number }>();
  private readonly now: () => number;

  constructor(
    private readonly store: EmulatorStore,
    private readonly options: TokenServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  register(client: EmulatorClient): void {
    if (!client.publicKeyPem && !client.jwk) throw new Error(`client ${client.clientId}: needs publicKeyPem or jwk`);
    const key = client.publicKeyPem ? importSPKI(client.publicKeyPem, 'RS256') : importJWK(client.jwk!, 'RS256');
    const guarded = (key as Promise<VerifyKey>).catch((e: Error) => {
      throw new Error(`client ${client.clientId}: public key is not a usable RS256 key: ${e.message}`);
    });
    guarded.catch(() => undefined);
    this.keys.set(client.clientId, guarded);
  }

  clientIds(): string[] {
    return [...this.keys.keys()];
  }

  async grant(form: Record<string, unknown>, requestAudiences: string[]): Promise<TokenGrant> {
    const invalid = (detail: string) => new AuthError(400, 'urn:problem-type:belgif:badRequest', 'Bad Request', detail);
    const unauthorized = (detail: string) => new AuthError(401, 'urn:problem-type:belgif:invalidClient', 'Invalid client', detail);
    if (form.grant_type !== 'client_credentials') throw invalid('grant_type must be client_credentials');
    if (form.client_assertion_type !== CLIENT_ASSERTION_TYPE) throw invalid(`client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
    const assertion = form.client_assertion;
    if (typeof assertion !== 'string' || assertion.length === 0) throw invalid('client_assertion is required');

    let claims;
    try {
      claims = decodeJwt(assertion);
    } catch {
      throw invalid('client_assertion is not a JWT');
    }
    const clientId = claims.iss;
    if (typeof clientId !== 'string' || claims.sub !== clientId) throw unauthorized('iss and sub must both be the client id');
    if (typeof form.client_id === 'string' && form.client_id !== clientId) throw unauthorized('client_id does not match the assertion issuer');
    const key = this.keys.get(clientId);
    if (!key) throw unauthorized(`unknown client ${clientId}`);

    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, await key, {
        algorithms: ['RS256'],
        audience: [...new Set([...this.options.audiences(), ...requestAudiences])],
        issuer: clientId,
        subject: clientId,
        requiredClaims: ['exp', 'jti'],
      }));
    } catch (e) {
      throw unauthorized(`client assertion rejected: ${(e as Error).message}`);
    }
    const now = Math.floor(Date.now() / 1000);
    if (payload.exp! > now + this.options.maxAssertionLifetimeSeconds) {
      throw unauthorized(`client assertion exp is more than ${this.options.maxAssertionLifetimeSeconds} s ahead`);
    }
    if (typeof payload.jti !== 'string' || payload.jti.length === 0) throw unauthorized('client assertion needs a jti');
    this.store.forgetExpiredJtis(now);
    if (!this.store.useJti(payload.jti, clientId, payload.exp!)) throw unauthorized('client assertion jti was already used');

    const token = randomBytes(32).toString('base64url');
    const nowMs = this.now();
    this.forgetExpiredTokens(nowMs);
    this.tokens.set(token, { clientId, expiresAt: nowMs + this.options.tokenTtlSeconds * 1000 });
    return { access_token: token, token_type: 'Bearer', expires_in: this.options.tokenTtlSeconds };
  }

  /** The client id behind a Bearer header, or an AuthError for a missing, unknown or expired token. */
  authenticate(authorization: string | undefined): string {
    const m = /^Bearer (.+)$/.exec(authorization ?? '');
    const stale = (detail: string) => new AuthError(401, 'urn:problem-type:belgif:invalidAccessToken', 'Invalid access token', detail);
    if (!m) throw new AuthError(401, 'urn:problem-type:belgif:noAccessToken', 'No access token', 'a Bearer access token is required');
    const t = this.tokens.get(m[1]!);
    if (!t) throw stale('the access token is unknown');
    if (t.expiresAt <= this.now()) {
      this.tokens.delete(m[1]!);
      throw stale('the access token has expired');
    }
    return t.clientId;
  }

  expireAll(): void {
    for (const t of this.tokens.values()) t.expiresAt = 0;
  }

  /** Access tokens held (granted, not yet forgotten): what the service keeps in memory for them. */
  heldTokens(): number {
    return this.tokens.size;
  }

  /** An expired token is refused whether it is known or not (401 either way), so it need not be kept. */
  private forgetExpiredTokens(nowMs: number): void {
    for (const [token, t] of this.tokens) if (t.expiresAt <= nowMs) this.tokens.delete(token);
  }
}
