import { HttpTransport, retryAfterMs, TransportError, type HttpResponse } from './http.ts';
import {
  readBulkResponse, readProblem, readRegistration, readSearchResponse, REGISTER_IN_BULK_PATH, SEARCH_PATH,
  searchByClientReferenceQuery, MAX_ITEMS_PER_CALL, type ItemOutcome, type OnssItem, type OnssRegistration,
} from './shapes.ts';
import { TokenError, TokenProvider } from './token.ts';

/**
 * The ONSS PresenceRegistration client: sends a batch and says what became of it, in terms the forwarder
 * can act on without knowing any ONSS shape. The key question for every failure is whether ONSS may have
 * processed the call: only `answered` and `not-processed` outcomes are certain; `ambiguous` needs a
 * reconciliation by client reference before anything is sent again.
 */
export interface OnssClientOptions {
  baseUrl: string;
  clientId: string;
  privateKeyPem: string;
  keyId?: string;
  tokenAudience?: string;
  ca?: string;
  requestTimeoutMs: number;
  tokenTimeoutMs?: number;
}

export type BulkOutcome =
  | { kind: 'answered'; items: ItemOutcome[] }
  /** ONSS did not process the call and says so: resend later (429, 503, 401, unreachable). */
  | { kind: 'not-processed'; cause: string; status?: number; retryAfterMs?: number; rateLimited?: boolean }
  /** ONSS refused the whole call as malformed (400, 413, 422): resending it as is would fail again. */
  | { kind: 'refused'; status: number; detail: string; problemType?: string }
  /** ONSS may have processed the call: reconcile before resending. */
  | { kind: 'ambiguous'; cause: string; status?: number };

export type LookupOutcome<T> = { ok: true; value: T } | { ok: false; cause: string; retryAfterMs?: number };

export class OnssClient {
  private readonly http: HttpTransport;
  private readonly tokenHttp: HttpTransport;
  readonly tokens: TokenProvider;

  constructor(options: OnssClientOptions) {
    this.http = new HttpTransport({ baseUrl: options.baseUrl, ca: options.ca, timeoutMs: options.requestTimeoutMs });
    this.tokenHttp = new HttpTransport({ baseUrl: options.baseUrl, ca: options.ca, timeoutMs: options.tokenTimeoutMs ?? 10_000, maxSockets: 1 });
    this.tokens = new TokenProvider(this.tokenHttp, {
      clientId: options.clientId,
      privateKeyPem: options.privateKeyPem,
      keyId: options.keyId,
      audience: options.tokenAudience ?? new URL('/REST/oauth/v5/token', options.baseUrl).toString(),
    });
  }

  async registerInBulk(items: OnssItem[]): Promise<BulkOutcome> {
    if (items.length === 0 || items.length > MAX_ITEMS_PER_CALL) throw new RangeError(`a bulk call carries 1 to ${MAX_ITEMS_PER_CALL} items, got ${items.length}`);
    const text = JSON.stringify({ items });
    for (let attempt = 0; ; attempt++) {
      let token: string;
      try {
        token = await this.tokens.token();
      } catch (e) {
        const t = e as TokenError;
        return { kind: 'not-processed', cause: tokenCause(e), status: t.status, retryAfterMs: t.retryAfterMs, rateLimited: t.status === 429 || undefined };
      }
      let res: HttpResponse;
      try {
        res = await this.http.request('POST', REGISTER_IN_BULK_PATH, { contentType: 'application/json', text }, { authorization: `Bearer ${token}` });
      } catch (e) {
        if (!(e instanceof TransportError)) throw e;
        return e.kind === 'not-sent' ? { kind: 'not-processed', cause: e.failure } : { kind: 'ambiguous', cause: e.failure };
      }
      if (res.status === 401 && attempt === 0) {
        this.tokens.invalidate(token);
        continue;
      }
      return classifyBulk(res, items);
    }
  }

  /** Every registration ONSS holds under one client reference (normally zero or one). */
  async searchByClientReference(clientReference: string): Promise<LookupOutcome<OnssRegistration[]>> {
    const res = await this.get(searchByClientReferenceQuery(clientReference));
    if (!res.ok) return res;
    const found = readSearchResponse(res.value.body);
    return found ? { ok: true, value: found.filter((r) => r.clientReference === undefined || r.clientReference === clientReference) } : { ok: false, cause: 'unreadable search answer' };
  }

  async getRegistration(id: string): Promise<LookupOutcome<OnssRegistration | null>> {
    const res = await this.get(`${SEARCH_PATH}/${encodeURIComponent(id)}`, [404]);
    if (!res.ok) return res;
    if (res.value.status === 404) return { ok: true, value: null };
    const r = readRegistration(res.value.body);
    return r ? { ok: true, value: r } : { ok: false, cause: 'unreadable registration answer' };
  }

  private async get(path: string, accepted: number[] = []): Promise<LookupOutcome<HttpResponse>> {
    for (let attempt = 0; ; attempt++) {
      let token: string;
      try {
        token = await this.tokens.token();
      } catch (e) {
        return { ok: false, cause: tokenCause(e), retryAfterMs: (e as TokenError).retryAfterMs };
      }
      let res: HttpResponse;
      try {
        res = await this.http.request('GET', path, undefined, { authorization: `Bearer ${token}` });
      } catch (e) {
        if (!(e instanceof TransportError)) throw e;
        return { ok: false, cause: e.failure };
      }
      if (res.status === 401 && attempt === 0) {
        this.tokens.invalidate(token);
        continue;
      }
      if (res.status === 200 || accepted.includes(res.status)) return { ok: true, value: res };
      return { ok: false, cause: `HTTP ${res.status}`, retryAfterMs: res.status === 429 ? retryAfterMs(res.headers['retry-after']) ?? 1000 : undefined };
    }
  }

  close(): void {
    this.http.close();
    this.tokenHttp.close();
  }
}

function tokenCause(e: unknown): string {
  if (e instanceof TokenError) return e.permanent ? `authentication refused: ${e.message}` : e.message;
  return e instanceof Error ? e.message : String(e);
}

export function classifyBulk(res: HttpResponse, sent: OnssItem[]): BulkOutcome {
  if (res.status >= 200 && res.status < 300) {
    const items = readBulkResponse(res.body, sent);
    return items ? { kind: 'answered', items } : { kind: 'ambiguous', cause: 'unreadable answer', status: res.status };
  }
  const p = readProblem(res.body);
  const detail = p?.detail ?? p?.title ?? `HTTP ${res.status}`;
  if (res.status === 429) return { kind: 'not-processed', cause: 'rate limited', status: 429, retryAfterMs: retryAfterMs(res.headers['retry-after']) ?? 1000, rateLimited: true };
  if (res.status === 503) return { kind: 'not-processed', cause: `HTTP 503: ${detail}`, status: 503, retryAfterMs: retryAfterMs(res.headers['retry-after']) };
  if (res.status === 401 || res.status === 403) return { kind: 'not-processed', cause: `HTTP ${res.status}: ${detail}`, status: res.status };
  if (res.status === 400 || res.status === 413 || res.status === 422) return { kind: 'refused', status: res.status, detail, problemType: p?.type };
  // 500, 502, 504 and anything else: the service may have stored the registrations before failing.
  return { kind: 'ambiguous', cause: `HTTP ${res.status}: ${detail}`, status: res.status };
}
