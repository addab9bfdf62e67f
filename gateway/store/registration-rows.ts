import type { SqlStore } from './sql-store.ts';
import { lockTapWriters } from './tap-writer-lock.ts';
import type { RegistrationRow } from './registrations-schema.ts';

/**
 * Writes a registration into its tap's row (tap-rows-schema.ts): the next registration number, the
 * employer-declaration-place context (one row per distinct one, looked up once per transaction), the
 * registration's instant in seconds. Used inside a write transaction only: ingest's group commit, the
 * release of held taps. Call `beginTransaction` at the start of each transaction and `committed` after its
 * COMMIT returned, so nothing of a rolled-back transaction is remembered.
 */
export type RegistrationFields = Omit<RegistrationRow, 'seq' | 'worker_id' | 'at_utc' | 'at_s'>;

/** The registration columns of a tap's row. */
export interface RegistrationColumns {
  reg_seq: number;
  reg_at: string | null;
  at_s: number;
  ssin: string | null;
  limosa_id: string | null;
  capacity: string;
  context_id: number;
}

const MAX_SEQ = 'SELECT COALESCE(MAX(reg_seq), 0) AS n FROM taps WHERE reg_seq IS NOT NULL';
const FIND_CONTEXT = 'SELECT id FROM registration_contexts WHERE employer_id = $1 AND declaration = $2 AND employer_kind = $3 AND place_of_work = $4';
const INSERT_CONTEXT = 'INSERT INTO registration_contexts (employer_kind, employer_id, declaration, place_of_work) VALUES ($1, $2, $3, $4) RETURNING id';
const REGISTER = `UPDATE taps SET reg_seq = $1, reg_at = $2, at_s = $3, ssin = $4, limosa_id = $5, capacity = $6, context_id = $7,
    site_id = $8, worker_id = $9, enrichment = 'enriched', enrichment_detail = NULL, sun_counter = COALESCE($10, sun_counter)
  WHERE tap_id = $11 AND reg_seq IS NULL`;

/**
 * On the storage port: each transaction hands its `tx` to `beginTransaction`, and every statement runs through
 * it. The numbers are taken in memory from the highest one stored, read once per transaction: one writer
 * numbers at a time (tap-writer-lock.ts: SQLite's write lock; on PostgreSQL, a lock on the taps).
 */
export class RegistrationRows {
  /** Contexts known to be committed, and those found or added in the running transaction. */
  private readonly contexts = new Map<string, number>();
  private pending = new Map<string, number>();
  private nextSeq: number | undefined;
  private tx: SqlStore | undefined;
  private locked = false;

  /** `locked`: the transaction took the tap writers' lock already (tap-writer-lock.ts), not taken again. */
  beginTransaction(tx: SqlStore, options: { locked?: boolean } = {}): void {
    this.tx = tx;
    this.locked = options.locked === true;
    this.nextSeq = undefined;
    this.pending = new Map();
  }

  committed(): void {
    for (const [k, v] of this.pending) this.contexts.set(k, v);
    this.pending = new Map();
    this.tx = undefined;
  }

  /**
   * The columns of a new registration, taking the next number. `tapAt`: the tap's own `at` (the
   * registration's is kept only when it differs); `atMs`: the registration's instant.
   */
  async columns(r: RegistrationFields, tapAt: string, atMs: number): Promise<RegistrationColumns> {
    const reg_seq = await this.takeSeq();
    return {
      reg_seq,
      reg_at: r.at === tapAt ? null : r.at,
      at_s: Math.floor(atMs / 1000),
      ssin: r.ssin,
      limosa_id: r.limosa_id,
      capacity: r.capacity,
      context_id: await this.contextId(r),
    };
  }

  /** A number taken but not used (the tap turned out to be stored already): given back. */
  giveBack(seq: number): void {
    if (this.nextSeq === seq + 1) this.nextSeq = seq;
  }

  /** Registers a held tap (a release): its row gets the registration; returns the registration's number. */
  async registerHeld(r: RegistrationFields & { worker_id: string }, tapAt: string, sunCounter: number | null): Promise<number> {
    const c = await this.columns(r, tapAt, Date.parse(r.at));
    const { changes } = await this.inTransaction().run(REGISTER, [c.reg_seq, c.reg_at, c.at_s, c.ssin, c.limosa_id, c.capacity, c.context_id, r.site_id, r.worker_id, sunCounter, r.tap_id]);
    if (changes === 0) {
      this.giveBack(c.reg_seq);
      throw new Error(`tap ${r.tap_id} has no row to register, or is registered already`);
    }
    return c.reg_seq;
  }

  private inTransaction(): SqlStore {
    if (!this.tx) throw new Error('registrations are numbered inside a transaction: call beginTransaction(tx) first');
    return this.tx;
  }

  private async takeSeq(): Promise<number> {
    if (this.nextSeq === undefined) {
      const tx = this.inTransaction();
      if (!this.locked) await lockTapWriters(tx);
      // The WHERE lets SQLite read the maximum off the partial index instead of scanning the taps.
      this.nextSeq = ((await tx.one<{ n: number }>(MAX_SEQ))?.n ?? 0) + 1;
    }
    return this.nextSeq++;
  }

  private async contextId(r: RegistrationFields): Promise<number> {
    const key = `${r.employer_kind}\n${r.employer_id}\n${r.declaration}\n${r.place_of_work}`;
    let id = this.contexts.get(key) ?? this.pending.get(key);
    if (id === undefined) {
      const tx = this.inTransaction();
      const found = await tx.one<{ id: number }>(FIND_CONTEXT, [r.employer_id, r.declaration, r.employer_kind, r.place_of_work]);
      id = found?.id ?? (await tx.one<{ id: number }>(INSERT_CONTEXT, [r.employer_kind, r.employer_id, r.declaration, r.place_of_work]))!.id;
      this.pending.set(key, id);
    }
    return id;
  }
}
