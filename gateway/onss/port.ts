import type { RegistrationRow } from '../store/registrations-schema.ts';
import { OnssClient, type BulkOutcome, type LookupOutcome, type PeriodOutcome, type Readiness } from './client.ts';
import { clientReferenceFor } from './client-reference.ts';
import type { OnssConnection } from './config.ts';
import { MAX_ITEMS_PER_CALL, MAX_SEARCH_RESULTS, toOnssItem, type OnssRegistration, type Period } from './shapes.ts';

/**
 * Everything the forwarder asks of ONSS, in the forwarder's own terms: our registration rows go in, and
 * what ONSS did with them comes out. No ONSS shape, token or key crosses this line, so the forwarder can
 * be driven by a fake in tests and the adapter replaced when the official specification is at hand.
 */
export interface OutgoingRegistration {
  row: RegistrationRow;
  clientReference: string;
}

export interface OnssPort {
  /** Most registrations one call may carry. */
  readonly maxBatch: number;
  /** Most registrations one search may return: a period holding more must be narrowed. */
  readonly maxSearchResults: number;
  /** The reference ONSS keeps with a registration (<= 24 characters), derived from the tap id. */
  referenceFor(tapId: string): string;
  /** Whether a call can be made now (an access token is at hand), so nothing is marked in flight for nothing. */
  ready(): Promise<Readiness>;
  /** Sends one batch; says per item what ONSS did, or whether ONSS may have processed an unanswered call. */
  send(batch: OutgoingRegistration[]): Promise<BulkOutcome>;
  /** What ONSS holds under a client reference; `registrationDate` (UTC) narrows the search to its period. */
  findByClientReference(clientReference: string, registrationDate: string): Promise<LookupOutcome<OnssRegistration[]>>;
  /** One registration by ONSS id; null when ONSS does not know it. */
  get(id: string): Promise<LookupOutcome<OnssRegistration | null>>;
  /** Every registration of ours dated in the period (both ends included), all pages. */
  searchPeriod(period: Period): Promise<PeriodOutcome>;
  close(): void;
}

export function createOnssPort(connection: OnssConnection): OnssPort {
  const client = new OnssClient(connection);
  return {
    maxBatch: MAX_ITEMS_PER_CALL,
    maxSearchResults: MAX_SEARCH_RESULTS,
    referenceFor: clientReferenceFor,
    ready: () => client.ready(),
    send: (batch) => client.registerInBulk(batch.map((r) => toOnssItem(r.row, r.clientReference))),
    findByClientReference: (ref, date) => client.searchByClientReference(ref, date),
    get: (id) => client.getRegistration(id),
    searchPeriod: (period) => client.searchPeriod(period),
    close: () => client.close(),
  };
}

export type { BulkOutcome, LookupOutcome, PeriodOutcome, Readiness } from './client.ts';
export type { ItemOutcome, OnssError, OnssRegistration, Period } from './shapes.ts';
