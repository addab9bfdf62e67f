import type { Db } from '../../shared/sqlite.ts';
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

export class RegistrationRows {
  private readonly maxSeq;
  private readonly findContext;
  private readonly insertContext;
  private readonly register;
  /** Contexts known to be committed, and those found or added in the running transaction. */
  private readonly contexts = new Map<string, number>();
  private pending = new Map<string, number>();
  private nextSeq: number | undefined;

  constructor(db: Db) {
    // The WHERE lets SQLite read the maximum off the partial index instead of scanning the taps.
    this.maxSeq = db.prepare('SELECT COALESCE(MAX(reg_seq), 0) FROM taps WHERE reg_seq IS NOT NULL').pluck();
    this.findContext = db.prepare('SELECT id FROM registration_contexts WHERE employer_id = ? AND declaration = ? AND employer_kind = ? AND place_of_work = ?').pluck();
    this.insertContext = db.prepare('INSERT INTO registration_contexts (employer_kind, employer_id, declaration, place_of_work) VALUES (?, ?, ?, ?)');
    this.register = db.prepare(
      `UPDATE taps SET reg_seq = @reg_seq, reg_at = @reg_at, at_s = @at_s, ssin = @ssin, limosa_id = @limosa_id, capacity = @capacity, context_id = @context_id,
         site_id = @site_id, worker_id = @worker_id, enrichment = 'enriched', enrichment_detail = NULL, sun_counter = COALESCE(@sun_counter, sun_counter)
       WHERE tap_id = @tap_id AND reg_seq IS NULL`,
    );
  }

  beginTransaction(): void {
    this.nextSeq = undefined;
    this.pending = new Map();
  }

  committed(): void {
    for (const [k, v] of this.pending) this.contexts.set(k, v);
    this.pending = new Map();
  }

  /**
   * The columns of a new registration, taking the next number. `tapAt`: the tap's own `at` (the
   * registration's is kept only when it differs); `atMs`: the registration's instant.
   */
  columns(r: RegistrationFields, tapAt: string, atMs: number): RegistrationColumns {
    return {
      reg_seq: this.takeSeq(),
      reg_at: r.at === tapAt ? null : r.at,
      at_s: Math.floor(atMs / 1000),
      ssin: r.ssin,
      limosa_id: r.limosa_id,
      capacity: r.capacity,
      context_id: this.contextId(r),
    };
  }

  /** A number taken but not used (the tap turned out to be stored already): given back. */
  giveBack(seq: number): void {
    if (this.nextSeq === seq + 1) this.nextSeq = seq;
  }

  /** Registers a held tap (a release): its row gets the registration; returns the registration's number. */
  registerHeld(r: RegistrationFields & { worker_id: string }, tapAt: string, sunCounter: number | null): number {
    const c = this.columns(r, tapAt, Date.parse(r.at));
    const changed = this.register.run({ ...c, site_id: r.site_id, worker_id: r.worker_id, sun_counter: sunCounter, tap_id: r.tap_id }).changes;
    if (changed === 0) {
      this.giveBack(c.reg_seq);
      throw new Error(`tap ${r.tap_id} has no row to register, or is registered already`);
    }
    return c.reg_seq;
  }

  private takeSeq(): number {
    this.nextSeq ??= (this.maxSeq.get() as number) + 1;
    return this.nextSeq++;
  }

  private contextId(r: RegistrationFields): number {
    const key = `${r.employer_kind}\n${r.employer_id}\n${r.declaration}\n${r.place_of_work}`;
    let id = this.contexts.get(key) ?? this.pending.get(key);
    if (id === undefined) {
      id = (this.findContext.get(r.employer_id, r.declaration, r.employer_kind, r.place_of_work) as number | undefined)
        ?? Number(this.insertContext.run(r.employer_kind, r.employer_id, r.declaration, r.place_of_work).lastInsertRowid);
      this.pending.set(key, id);
    }
    return id;
  }
}
