import { localDate } from '../../shared/time.ts';
import type { OutageFact } from '../remarks/model.ts';
import type { SqlStore } from '../store/sql-store.ts';

/**
 * The gateway's own outage journal (`outage_events`), beside the forwarder's journal of ONSS outages: the
 * employer's proof of force majeure (FAQ 57-59) when a registration reached ONSS late, and what FAQ 31's
 * fallback was for.
 * - a **terminal outage**: the terminal went offline (its connection dropped, or its status or last will
 *   said so) while its site was open, i.e. the terminal is enabled and its site has a declaration valid
 *   that day; it ends when the terminal is back online. Written by the ingest transaction with the status
 *   change (the writer thread is the only writer of terminal status). A terminal that is online but says it
 *   cannot register taps (no reader, no site configuration, outbox unwritable: FAQ 31) is out as well: its
 *   entry names the reasons, and a new entry starts when they change;
 * - a **gateway outage**: from the gateway's own stop to its next start. A clean stop opens the entry and the
 *   next start closes it; after a crash or a power cut (no stop written) the start records the time from the
 *   last heartbeat (written every minute) to now. Several processes on one database (a cluster's instances,
 *   a warm standby) are one gateway: each beats under its own name, and the gateway is out only while none
 *   runs. A stop while another beats is no outage, nor a start after a crash while another was running.
 * Journal ids are `gw-<n>`, apart from the forwarder's numeric ones.
 *
 * All of it is on the storage port: the terminal outages through the ingest transaction's `tx`, the gateway
 * outages and the reading of the journal (`outagesBetween`) through the store.
 */
export const HEARTBEAT_EVERY_MS = 60_000;

/** The cause of a terminal outage while it was online but could not register, before its reasons. */
const CANNOT_REGISTER_CAUSE = 'the terminal is online but cannot register taps: ';

const SITE_OPEN = `SELECT t.site_id FROM terminals t JOIN declarations d ON d.site_id = t.site_id
  WHERE t.id = $1 AND t.disabled = 0 AND d.deactivated_at IS NULL AND d.valid_from <= $2 AND (d.valid_to IS NULL OR d.valid_to >= $2) LIMIT 1`;
const OPEN_CAUSE = 'SELECT cause FROM outage_events WHERE scope = $1 AND ended_at IS NULL';
const OPEN_ONE = 'INSERT INTO outage_events (scope, terminal_id, site_id, started_at, cause) VALUES ($1, $2, $3, $4, $5)';
const CLOSE_ONE = 'UPDATE outage_events SET ended_at = $1 WHERE scope = $2 AND ended_at IS NULL';

/** What the ingest transaction writes when a terminal goes offline or comes back, through its `tx`. */
export const terminalOutages = {
  /** The terminal went offline at `at` (gateway clock, ISO). */
  async offline(tx: SqlStore, terminalId: string, at: string, cause: string): Promise<void> {
    const scope = `terminal:${terminalId}`;
    if (await tx.one(OPEN_CAUSE, [scope])) return;
    const site = await tx.one<{ site_id: string }>(SITE_OPEN, [terminalId, localDate(at)]);
    if (site) await tx.run(OPEN_ONE, [scope, terminalId, site.site_id, at, cause]);
  },

  /**
   * The terminal is connected but says it cannot register taps (`reasons`, comma-separated): an outage for the
   * workers at its door all the same. A status repeating the same reasons keeps the open entry.
   */
  async cannotRegister(tx: SqlStore, terminalId: string, at: string, reasons: string): Promise<void> {
    const scope = `terminal:${terminalId}`;
    const cause = `${CANNOT_REGISTER_CAUSE}${reasons}`;
    const open = await tx.one<{ cause: string }>(OPEN_CAUSE, [scope]);
    if (open?.cause === cause) return;
    if (open !== undefined) await tx.run(CLOSE_ONE, [at, scope]);
    await terminalOutages.offline(tx, terminalId, at, cause);
  },

  /** The terminal is online again. */
  async online(tx: SqlStore, terminalId: string, at: string): Promise<void> {
    await tx.run(CLOSE_ONE, [at, `terminal:${terminalId}`]);
  },
};

const GATEWAY_SCOPE = 'gateway';

/** Heartbeats older than this are of processes gone (a cluster instance named after its pid): forgotten. */
const FORGET_BEATS_AFTER_MS = 7 * 24 * 3_600_000;

/**
 * The gateway's own stops and starts, on the storage port (gateway/store/sql-store.ts): the same SQL on the
 * SQLite file and on PostgreSQL. Its transactions are serializable on both, so two instances starting at
 * once do not both journal the same crash.
 */
export class GatewayRunJournal {
  /** Its heartbeat's key: `heartbeat` for a lone gateway, `heartbeat:<instance>` for an instance of several. */
  private readonly key: string;

  constructor(private readonly store: SqlStore, private readonly now: () => Date = () => new Date(), instance?: string) {
    this.key = instance ? `heartbeat:${instance}` : 'heartbeat';
  }

  /** The newest heartbeat of the processes on this database other than this one (ISO), if any. */
  private async othersLastBeat(tx: SqlStore): Promise<string | undefined> {
    const row = await tx.one<{ beat: string | null }>("SELECT MAX(value) AS beat FROM gateway_settings WHERE (key = 'heartbeat' OR key LIKE 'heartbeat:%') AND key <> $1", [this.key]);
    return row?.beat ?? undefined;
  }

  private alive(beat: string | undefined, at: string): boolean {
    return beat !== undefined && Date.parse(at) - Date.parse(beat) <= 2 * HEARTBEAT_EVERY_MS;
  }

  /** At start: close the entry a clean stop opened, or record the time since the last heartbeat of any process. */
  async started(): Promise<void> {
    const at = this.now().toISOString();
    await this.store.transaction(async (tx) => {
      await tx.run("DELETE FROM gateway_settings WHERE key LIKE 'heartbeat:%' AND value < $1", [new Date(Date.parse(at) - FORGET_BEATS_AFTER_MS).toISOString()]);
      const closed = (await tx.run('UPDATE outage_events SET ended_at = $1 WHERE scope = $2 AND ended_at IS NULL', [at, GATEWAY_SCOPE])).changes;
      if (closed === 0) {
        const own = (await tx.one<{ value: string }>('SELECT value FROM gateway_settings WHERE key = $1', [this.key]))?.value;
        const others = await this.othersLastBeat(tx);
        const last = [own, others].filter((b): b is string => b !== undefined).sort().at(-1);
        if (last && !this.alive(last, at)) {
          await tx.run('INSERT INTO outage_events (scope, started_at, ended_at, cause) VALUES ($1, $2, $3, $4)', [GATEWAY_SCOPE, last, at, 'gateway not running (stopped without a clean stop: crash or power cut; from its last heartbeat)']);
        }
      }
      await this.beat(tx, at);
    });
  }

  /** Every minute while running; a busy database skips a beat. */
  async heartbeat(): Promise<void> {
    try {
      await this.beat(this.store, this.now().toISOString());
    } catch {
      // The next beat will do; a crash is measured from the last one written.
    }
  }

  /** At a clean stop: the gateway is out from now until its next start, unless another process still runs. */
  async stopped(): Promise<void> {
    const at = this.now().toISOString();
    await this.store.transaction(async (tx) => {
      if (this.alive(await this.othersLastBeat(tx), at)) return;
      await tx.run('INSERT INTO outage_events (scope, started_at, cause) VALUES ($1, $2, $3)', [GATEWAY_SCOPE, at, 'gateway stopped']);
    });
  }

  private async beat(on: SqlStore, at: string): Promise<void> {
    await on.run('INSERT INTO gateway_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [this.key, at]);
  }
}

/**
 * Journal entries that overlap [from, to] (ISO instants), for remarks and the outage screen: on the storage
 * port, read by the site-manager queries (gateway/records/sql-queries.ts).
 */
export async function outagesBetween(store: SqlStore, from: string, to: string): Promise<OutageFact[]> {
  const rows = await store.all<{ id: number; scope: string; started_at: string; ended_at: string | null; cause: string }>(
    'SELECT id, scope, started_at, ended_at, cause FROM outage_events WHERE started_at <= $1 AND (ended_at IS NULL OR ended_at >= $2) ORDER BY started_at, id',
    [new Date(Date.parse(to)).toISOString(), new Date(Date.parse(from)).toISOString()],
  );
  return rows.map((r) => ({ id: `gw-${r.id}`, scope: r.scope, from: r.started_at, to: r.ended_at, cause: r.cause }));
}
