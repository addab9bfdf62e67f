import { HttpTransport, isTransportError, retryAfterMs, type HttpResponse } from './http.ts';
import {
  MAX_ITEMS_PER_CALL, MAX_SEARCH_RESULTS, readBulkResponse, readProblem, readRegistration, readSearchResponse, REGISTER_IN_BULK_PATH,
  SEARCH_PAGE_SIZE, SEARCH_PATH, searchQuery, TOKEN_PATH, type ItemOutcome, type OnssItem, type OnssRegistration, type Period,
} from './shapes.ts';
import { isTokenError, TokenProvider } from './token.ts';
import type { OnssConnection } from './config.ts';

/**
 * The ONSS PresenceRegistration client: sends a batch and says what became of it, in terms the forwarder
 * can act on without knowing any ONSS shape. The key question for every failure is whether ONSS may have
 * processed the call: only `answered` and `not-processed` outcomes are certain; `ambiguous` needs a
 * reconciliation by client reference before anything is sent again.
 */
/** What the client needs: the connection settings as gateway/onss/config.ts read and checked them once. */
export type OnssClientOptions = Omit<OnssConnection, 'tokenTimeoutMs'> & { tokenTimeoutMs?: number };

export type BulkOutcome =
  | { kind: 'answered'; items: ItemOutcome[] }
  /** ONSS did not process the call and says so: resend later (429, 503, 401, unreachable). */
  | { kind: 'not-processed'; cause: string; status?: number; retryAfterMs?: number; rateLimited?: boolean }
  /** ONSS refused the whole call as malformed (400, 413, 422): resending it as is would fail again. */
  | { kind: 'refused'; status: number; detail: string; problemType?: string }
  /** ONSS may have processed the call: reconcile before resending. */
  | { kind: 'ambiguous'; cause: string; status?: number };

export type LookupOutcome<T> = { ok: true; value: T } | { ok: false; cause: string; retryAfterMs?: number };

/** Whether a token can be had now; when not, whether waiting (429) or a failure (outage, refused key) is why. */
export type Readiness = { ok: true } | { ok: false; cause: string; rateLimited: boolean; retryAfterMs?: number };

/** Every registration ONSS holds in a period, or that the period holds more than one search may return. */
export type PeriodOutcome =
  | { kind: 'found'; registrations: OnssRegistration[] }
  | { kind: 'too-many'; total: number }
  | { kind: 'failed'; cause: string; retryAfterMs?: number };

export class OnssClient {
  private readonly http: HttpTransport;
  private readonly tokenHttp: HttpTransport;
  readonly tokens: TokenProvider;

  constructor(options: OnssClientOptions) {
    this.http = new HttpTransport({ baseUrl: options.baseUrl, ca: options.ca, timeoutMs: options.requestTimeoutMs });
    this.tokenHttp = new HttpTransport({ baseUrl: options.baseUrl, ca: options.ca, timeoutMs: options.tokenTimeoutMs ?? 10_000, maxSockets: 1 });
    this.tokens = new TokenProvider(this.tokenHttp, {
      clientId: options.clientId,
      signingKey: options.signingKey,
      keyId: options.keyId,
      audience: options.tokenAudience ?? new URL(TOKEN_PATH, options.baseUrl).toString(),
    });
  }

  /** Gets (or reuses) an access token, so that nothing is marked in flight when none can be had. */
  async ready(): Promise<Readiness> {
    try {
      await this.tokens.token();
      return { ok: true };
    } catch (e) {
      if (!isTokenError(e)) throw e;
      return { ok: false, cause: tokenCause(e), rateLimited: e.code === 'ONSS_TOKEN_RATE_LIMITED', retryAfterMs: e.retryAfterMs };
    }
  }

  async registerInBulk(items: OnssItem[]): Promise<BulkOutcome> {
    if (items.length === 0 || items.length > MAX_ITEMS_PER_CALL) throw new RangeError(`a bulk call carries 1 to ${MAX_ITEMS_PER_CALL} items, got ${items.length}`);
    const text = JSON.stringify({ items });
    for (let attempt = 0; ; attempt++) {
      let token: string;
      try {
        token = await this.tokens.token();
      } catch (e) {
        if (!isTokenError(e)) throw e;
        return { kind: 'not-processed', cause: tokenCause(e), status: e.status, retryAfterMs: e.retryAfterMs, rateLimited: e.code === 'ONSS_TOKEN_RATE_LIMITED' || undefined };
      }
      let res: HttpResponse;
      try {
        res = await this.http.request('POST', REGISTER_IN_BULK_PATH, { contentType: 'application/json', text }, { authorization: `Bearer ${token}` });
      } catch (e) {
        if (!isTransportError(e)) throw e;
        return e.code === 'ONSS_NOT_SENT' ? { kind: 'not-processed', cause: e.failure } : { kind: 'ambiguous', cause: e.failure };
      }
      if (res.status === 401 && attempt === 0) {
        this.tokens.invalidate(token);
        continue;
      }
      return classifyBulk(res, items);
    }
  }

  /**
   * Every registration ONSS holds under one client reference (normally zero or one). The search needs a
   * period: the registration's own date, a day either side, so a service that files it by local date
   * still finds it.
   */
  async searchByClientReference(clientReference: string, registrationDate: string): Promise<LookupOutcome<OnssRegistration[]>> {
    const at = Date.parse(registrationDate);
    if (Number.isNaN(at)) throw new RangeError(`not a registration date: ${registrationDate}`);
    const period = { from: utcSeconds(at - 86_400_000), to: utcSeconds(at + 86_400_000) };
    const res = await this.get(searchQuery({ clientReference }, period, 1));
    if (!res.ok) return res;
    const found = readSearchResponse(res.value.body);
    if (!found) return { ok: false, cause: 'unreadable search answer' };
    return { ok: true, value: found.items.filter((r) => r.clientReference === undefined || r.clientReference === clientReference) };
  }

  /**
   * Every registration of this client whose date lies in the period, page after page; `too-many` when more
   * match than one search may return (the caller narrows the period).
   */
  async searchPeriod(period: Period): Promise<PeriodOutcome> {
    // By id: a registration filed meanwhile may shift the pages and show one twice.
    const found = new Map<string, OnssRegistration>();
    for (let page = 1; ; page++) {
      const res = await this.get(searchQuery({}, period, page, SEARCH_PAGE_SIZE));
      if (!res.ok) return { kind: 'failed', cause: res.cause, retryAfterMs: res.retryAfterMs };
      const answer = readSearchResponse(res.value.body);
      if (!answer) return { kind: 'failed', cause: 'unreadable search answer' };
      if (answer.total !== undefined && answer.total > MAX_SEARCH_RESULTS) return { kind: 'too-many', total: answer.total };
      for (const r of answer.items) found.set(r.id, r);
      const last = answer.items.length < SEARCH_PAGE_SIZE || (answer.total !== undefined && page * SEARCH_PAGE_SIZE >= answer.total);
      if (last) return { kind: 'found', registrations: [...found.values()] };
      // Full pages up to the limit and no total to say it ends there: more may match than a search returns.
      if (page * SEARCH_PAGE_SIZE >= MAX_SEARCH_RESULTS) return { kind: 'too-many', total: found.size };
    }
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
        if (!isTokenError(e)) throw e;
        return { ok: false, cause: tokenCause(e), retryAfterMs: e.retryAfterMs };
      }
      let res: HttpResponse;
      try {
        res = await this.http.request('GET', path, undefined, { authorization: `Bearer ${token}` });
      } catch (e) {
        if (!isTransportError(e)) throw e;
        return { ok: false, cause: e.failure };
      }
      if (res.status === 401 && attempt === 0) {
        this.tokens.invalidate(token);
        continue;
      }
      if (res.status === 200 || accepted.includes(res.status)) return { ok: true, value: res };
      const p = readProblem(res.body);
      return { ok: false, cause: `HTTP ${res.status}${p?.detail ? `: ${p.detail}` : ''}`, retryAfterMs: res.status === 429 ? retryAfterMs(res.headers['retry-after']) ?? 1000 : undefined };
    }
  }

  close(): void {
    this.http.close();
    this.tokenHttp.close();
  }
}

function utcSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

function tokenCause(e: { code: string; message: string }): string {
  return e.code === 'ONSS_TOKEN_REFUSED' ? `authentication refused: ${e.message}` : e.message;
}

function classifyBulk(res: HttpResponse, sent: OnssItem[]): BulkOutcome {
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
