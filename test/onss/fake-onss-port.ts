import { randomUUID } from 'node:crypto';
import type { OnssPort, OutgoingRegistration } from '../../gateway/onss/port.ts';
import type { BulkOutcome, LookupOutcome, OnssRegistration, PeriodOutcome, Period, Readiness } from '../../gateway/onss/port.ts';
import { clientReferenceFor } from '../../gateway/onss/client-reference.ts';

/**
 * An ONSS that lives in memory, behind the same port the forwarder uses, for testing the forwarder's
 * parts one by one: it holds what it was sent, answers as told (`script`), keeps every call, and applies
 * the search's limit (a period holding more than `maxSearchResults` answers `too-many`).
 */
export interface HeldRegistration extends OnssRegistration {
  registrationDate: string;
}

export type SendBehaviour =
  | 'answer'
  /** Stores the batch, then the answer is lost (a hang-up): `ambiguous`. */
  | 'hang-up'
  /** Stores nothing and answers nothing: `ambiguous`. */
  | 'lost'
  | { notProcessed: string; rateLimited?: boolean; retryAfterMs?: number }
  | { refused: number };

export type Call =
  | { kind: 'send'; refs: string[] }
  | { kind: 'find'; ref: string; date: string }
  | { kind: 'get'; id: string }
  | { kind: 'period'; period: Period };

export class FakeOnssPort implements OnssPort {
  readonly maxBatch = 200;
  readonly maxSearchResults: number;
  readonly held: HeldRegistration[] = [];
  readonly calls: Call[] = [];
  /** How the next sends go; `answer` once it is empty. */
  readonly script: SendBehaviour[] = [];
  /** Registration refused per item when its ssin is this. */
  refuseSsin: string | undefined;
  /** Whether new registrations come back settled (validated) or pending. */
  settleOnCreate = false;
  /** Lookups fail while set. */
  lookupFailure: string | undefined;
  readiness: Readiness = { ok: true };
  /** Called at the start of every send, with the batch, before anything is decided. */
  onSend: ((batch: OutgoingRegistration[]) => void) | undefined;
  closed = false;

  constructor(options: { maxSearchResults?: number } = {}) {
    this.maxSearchResults = options.maxSearchResults ?? 500;
  }

  referenceFor(tapId: string): string {
    return clientReferenceFor(tapId);
  }

  async ready(): Promise<Readiness> {
    return this.readiness;
  }

  async send(batch: OutgoingRegistration[]): Promise<BulkOutcome> {
    this.calls.push({ kind: 'send', refs: batch.map((b) => b.clientReference) });
    this.onSend?.(batch);
    const behaviour = this.script.shift() ?? 'answer';
    if (behaviour === 'lost') return { kind: 'ambiguous', cause: 'timeout' };
    if (typeof behaviour === 'object' && 'notProcessed' in behaviour) {
      return { kind: 'not-processed', cause: behaviour.notProcessed, rateLimited: behaviour.rateLimited, retryAfterMs: behaviour.retryAfterMs };
    }
    if (typeof behaviour === 'object') return { kind: 'refused', status: behaviour.refused, detail: 'refused as a whole' };
    const items = batch.map((b) => {
      if (b.row.ssin !== null && b.row.ssin === this.refuseSsin) return { kind: 'not-created' as const, errors: [{ code: 'invalidSsin', field: 'ssin' }] };
      const r = this.hold(b.clientReference, b.row.at_utc, this.settleOnCreate);
      return { kind: 'created' as const, id: r.id, validity: r.validity, settled: r.settled, remarks: r.remarks };
    });
    if (behaviour === 'hang-up') return { kind: 'ambiguous', cause: 'connection reset' };
    return { kind: 'answered', items };
  }

  /** Files a registration as ONSS would (also used to stand for registrations of ours sent long ago). */
  hold(clientReference: string, registrationDate: string, settled = false): HeldRegistration {
    const r: HeldRegistration = { id: randomUUID(), clientReference, registrationDate, validity: settled ? 'validated' : 'pending', settled, remarks: [] };
    this.held.push(r);
    return r;
  }

  /** ONSS runs its checks: every held registration becomes validated, or with the remark for those given. */
  settleAll(withRemark: Map<string, string> = new Map()): void {
    for (const r of this.held) {
      const remark = withRemark.get(r.id);
      r.validity = remark ? 'withRemarks' : 'validated';
      r.remarks = remark ? [remark] : [];
      r.settled = true;
    }
  }

  async findByClientReference(ref: string, date: string): Promise<LookupOutcome<OnssRegistration[]>> {
    this.calls.push({ kind: 'find', ref, date });
    if (this.lookupFailure) return { ok: false, cause: this.lookupFailure };
    return { ok: true, value: this.held.filter((r) => r.clientReference === ref).map((r) => ({ ...r })) };
  }

  async get(id: string): Promise<LookupOutcome<OnssRegistration | null>> {
    this.calls.push({ kind: 'get', id });
    if (this.lookupFailure) return { ok: false, cause: this.lookupFailure };
    const r = this.held.find((x) => x.id === id);
    return { ok: true, value: r ? { ...r } : null };
  }

  async searchPeriod(period: Period): Promise<PeriodOutcome> {
    this.calls.push({ kind: 'period', period });
    if (this.lookupFailure) return { kind: 'failed', cause: this.lookupFailure };
    const inPeriod = this.held.filter((r) => r.registrationDate >= period.from && r.registrationDate <= period.to);
    if (inPeriod.length > this.maxSearchResults) return { kind: 'too-many', total: inPeriod.length };
    return { kind: 'found', registrations: inPeriod.map((r) => ({ ...r })) };
  }

  close(): void {
    this.closed = true;
  }

  count(kind: Call['kind']): number {
    return this.calls.filter((c) => c.kind === kind).length;
  }
}
