import type { Logger } from '../../shared/logging.ts';
import type { OnssPort, OnssRegistration } from '../onss/port.ts';
import type { ForwardStore, ValidityUpdate } from './forward-store.ts';

/**
 * Settles the validity of created registrations: ONSS runs its checks after it created a registration, and
 * its verdict (validated, or with remarks such as a duplicate or an unknown declaration) is what the site
 * manager must see. Rather than one GET per registration, a round asks ONSS for every registration of ours
 * dated in a period, and settles all the round's registrations that period holds:
 *
 * 1. the registrations due (pending, not asked about for an interval), up to `batch`, sorted by date;
 * 2. cut into windows of at most half what one search may return (the period also holds registrations of
 *    ours already settled);
 * 3. each window's period [first date, last date] is searched, all pages; a period holding more than a
 *    search may return is halved where the date changes; a single instant holding too many, and any
 *    registration its period did not show, is asked for by id;
 * 4. settled ones are recorded, the others are asked about again an interval later.
 */
export interface ValidityOptions {
  intervalMs: number;
  batch: number;
  concurrency: number;
}

export interface ValidityRound {
  /** Registrations due this round. */
  due: number;
  settled: number;
  stillPending: number;
  /** Searches and gets made. */
  calls: number;
  failure?: string;
}

type Due = { seq: number; onss_id: string; at_utc: string };

export class ValidityPoller {
  constructor(
    private readonly store: ForwardStore,
    private readonly port: OnssPort,
    private readonly options: ValidityOptions,
    private readonly logger: Logger,
    private readonly stopped: () => boolean = () => false,
  ) {}

  async round(nowMs = Date.now()): Promise<ValidityRound> {
    const due: Due[] = await this.store.pendingValidity(nowMs - this.options.intervalMs, this.options.batch);
    if (due.length === 0) return { due: 0, settled: 0, stillPending: 0, calls: 0 };
    due.sort((a, b) => (a.at_utc < b.at_utc ? -1 : a.at_utc > b.at_utc ? 1 : a.seq - b.seq));
    const windowRows = Math.max(1, Math.floor(this.port.maxSearchResults / 2));
    const queue: Due[][] = [];
    for (let i = 0; i < due.length; i += windowRows) queue.push(due.slice(i, i + windowRows));

    const updates = new Map<number, ValidityUpdate>();
    let failure: string | undefined;
    let calls = 0;
    const settle = (row: Due, r: OnssRegistration | null | undefined) => {
      updates.set(row.seq, r?.settled ? { seq: row.seq, validity: r.validity, remarks: r.remarks } : { seq: row.seq });
    };
    const byId = async (rows: Due[]) => {
      for (const row of rows) {
        if (failure || this.stopped()) return;
        calls++;
        const r = await this.port.get(row.onss_id);
        if (!r.ok) failure ??= r.cause;
        else settle(row, r.value);
      }
    };
    const window = async (rows: Due[]) => {
      const period = { from: rows[0]!.at_utc, to: rows[rows.length - 1]!.at_utc };
      calls++;
      const r = await this.port.searchPeriod(period);
      if (r.kind === 'failed') {
        failure ??= r.cause;
        return;
      }
      if (r.kind === 'too-many') {
        const cut = splitPoint(rows);
        if (cut === undefined) await byId(rows);
        else queue.push(rows.slice(0, cut), rows.slice(cut));
        return;
      }
      const found = new Map(r.registrations.map((x) => [x.id, x]));
      const unseen: Due[] = [];
      for (const row of rows) {
        const x = found.get(row.onss_id);
        if (x) settle(row, x);
        else unseen.push(row);
      }
      if (unseen.length > 0) {
        this.logger.debug({ unseen: unseen.length, period }, 'registrations not shown in their period: asking by id');
        await byId(unseen);
      }
    };
    const worker = async () => {
      for (let rows = queue.shift(); rows && !failure && !this.stopped(); rows = queue.shift()) await window(rows);
    };
    // Workers take windows from the queue, halves of a crowded period included.
    const workers: Promise<void>[] = [];
    for (let i = 0; i < this.options.concurrency; i++) workers.push(worker());
    await Promise.all(workers);
    while (queue.length > 0 && !failure && !this.stopped()) await worker();

    const list = [...updates.values()];
    await this.store.recordValidity(list, nowMs);
    const settled = list.filter((u) => u.validity !== undefined).length;
    if (failure) this.logger.warn({ cause: failure, settled }, 'validity check interrupted: ONSS did not answer');
    return { due: due.length, settled, stillPending: list.length - settled, calls, ...(failure ? { failure } : {}) };
  }
}

/** Where to halve rows sorted by date so both halves have narrower periods; undefined when all share one instant. */
function splitPoint(rows: Due[]): number | undefined {
  const mid = Math.floor(rows.length / 2);
  for (let d = 0; d <= mid; d++) {
    for (const i of [mid + d, mid - d]) {
      if (i > 0 && i < rows.length && rows[i]!.at_utc !== rows[i - 1]!.at_utc) return i;
    }
  }
  return undefined;
}
