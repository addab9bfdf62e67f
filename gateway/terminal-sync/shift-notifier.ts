import type { Logger } from '../../shared/logging.ts';
import { API_VERSION, type ShiftChange as ShiftEntry, type ShiftsMessage } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import type { ShiftChange } from '../shifts/change.ts';

/** A roster's workers: worker id -> that worker's badges in it (terminal-view.ts RosterView.workers). */
type Roster = ReadonlyMap<string, string[]>;

/** Where `shifts` messages go: the broker adapter. */
export interface ShiftSink {
  sendShifts(terminalId: string, payload: string): void;
  /** The terminals connected and subscribed to their `shifts` topic. */
  shiftReceivers(): ReadonlySet<string>;
}

/**
 * Tells terminals when a worker's shift state changed: after each commit that changed states, one `shifts`
 * message per terminal (QoS 1, not retained) whose roster holds a badge of a changed worker, carrying every
 * change of that commit for its roster's badges. So a tap at one door changes the proposal at every door of
 * every site where the worker may work, well within a second of the commit.
 *
 * Which terminal holds which worker's badges comes from the rosters the publisher builds (`setRoster`).
 * Terminals that are not connected, or never subscribed to `shifts` (third-party terminals, load
 * generators), cost nothing: no message is built for them. A terminal that reconnects gets a fresh roster,
 * with every state, instead of the messages it missed.
 */
export class ShiftNotifier {
  /**
   * Which terminals hold which worker's badges, kept per roster rather than per terminal: the terminals of a
   * site share their roster (the same `workers` map), so a worker of a site is one entry whatever the number
   * of doors, and a national fleet's index stays the size of its sites' rosters.
   * Worker id -> the rosters holding the worker; roster -> its terminals; terminal -> its roster.
   */
  private readonly byWorker = new Map<string, Roster[]>();
  private readonly holders = new Map<Roster, Set<string>>();
  private readonly rosterOf = new Map<string, Roster>();
  /** A counter of changes, the last one of each worker, and where each terminal's roster was published. */
  private seq = 0;
  private readonly changedAt = new Map<string, number>();
  private readonly rosterAt = new Map<string, number>();

  constructor(private readonly sink: ShiftSink, private readonly logger: Logger) {}

  /** How many shift changes were notified so far: a roster built at this count is current until it grows. */
  get changes(): number {
    return this.seq;
  }

  /**
   * A terminal's roster was (re)published: which badges of which worker it holds now. Terminals given the
   * same map (a site's doors) share its entries.
   */
  setRoster(terminalId: string, workers: Roster): void {
    this.leave(terminalId);
    let terminals = this.holders.get(workers);
    if (!terminals) {
      this.holders.set(workers, (terminals = new Set()));
      for (const w of workers.keys()) {
        const list = this.byWorker.get(w);
        if (list) list.push(workers);
        else this.byWorker.set(w, [workers]);
      }
    }
    terminals.add(terminalId);
    this.rosterOf.set(terminalId, workers);
    this.rosterAt.set(terminalId, this.seq);
  }

  /**
   * Whether a state of a worker in this terminal's roster changed since the roster was published: a terminal
   * that reconnects then gets its roster again, with the states of now; otherwise its retained roster holds.
   */
  rosterStale(terminalId: string): boolean {
    const at = this.rosterAt.get(terminalId);
    if (at === undefined) return true;
    for (const w of this.rosterOf.get(terminalId)?.keys() ?? []) if ((this.changedAt.get(w) ?? 0) > at) return true;
    return false;
  }

  /** A terminal no longer has a roster (deleted, no site). */
  dropTerminal(terminalId: string): void {
    this.leave(terminalId);
    this.rosterAt.delete(terminalId);
  }

  /** The terminal leaves its roster; a roster no terminal holds any more leaves the index. */
  private leave(terminalId: string): void {
    const old = this.rosterOf.get(terminalId);
    if (!old) return;
    this.rosterOf.delete(terminalId);
    const terminals = this.holders.get(old)!;
    terminals.delete(terminalId);
    if (terminals.size > 0) return;
    this.holders.delete(old);
    for (const w of old.keys()) {
      const list = this.byWorker.get(w)?.filter((r) => r !== old);
      if (list && list.length > 0) this.byWorker.set(w, list);
      else this.byWorker.delete(w);
    }
  }

  /** The changes of one commit, sent at once. */
  notify(changes: ShiftChange[]): void {
    if (changes.length === 0) return;
    for (const c of changes) this.changedAt.set(c.workerId, ++this.seq);
    const receivers = this.sink.shiftReceivers();
    // Nobody listens (third-party terminals only, a load test): nothing to build.
    if (receivers.size === 0) return;
    const out = new Map<string, ShiftEntry[]>();
    const add = (terminalId: string, badges: string[], c: ShiftChange, since: string) => {
      let list = out.get(terminalId);
      if (!list) out.set(terminalId, (list = []));
      for (const badge of badges) list.push({ badge, state: c.state, since, site: c.siteId, rev: c.rev });
    };
    for (const c of changes) {
      const rosters = this.byWorker.get(c.workerId);
      if (!rosters) continue;
      const since = toOffsetIso(new Date(c.sinceMs));
      for (const roster of rosters) {
        const badges = roster.get(c.workerId)!;
        const terminals = this.holders.get(roster)!;
        // Walk the smaller side: the roster's terminals, or the terminals listening.
        if (terminals.size <= receivers.size) {
          for (const terminalId of terminals) if (receivers.has(terminalId)) add(terminalId, badges, c, since);
        } else {
          for (const terminalId of receivers) if (terminals.has(terminalId)) add(terminalId, badges, c, since);
        }
      }
    }
    for (const [terminalId, badges] of out) {
      const message: ShiftsMessage = { v: API_VERSION, badges };
      this.sink.sendShifts(terminalId, JSON.stringify(message));
    }
    if (out.size) this.logger.debug({ terminals: out.size, changes: changes.length }, 'shift states sent');
  }
}
