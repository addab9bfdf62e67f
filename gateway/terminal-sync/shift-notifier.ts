import type { Logger } from '../../shared/logging.ts';
import { API_VERSION, type ShiftChange as ShiftEntry, type ShiftsMessage } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import type { ShiftChange } from '../ingest/shift-tracker.ts';

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
  /** Worker id -> terminal id -> that worker's badges in the terminal's roster. */
  private byWorker = new Map<string, Map<string, string[]>>();
  /** Terminal id -> the workers of its roster (to drop a terminal's entries when its roster changes). */
  private byTerminal = new Map<string, string[]>();
  /** A counter of changes, the last one of each worker, and where each terminal's roster was published. */
  private seq = 0;
  private readonly changedAt = new Map<string, number>();
  private readonly rosterAt = new Map<string, number>();

  constructor(private readonly sink: ShiftSink, private readonly logger: Logger) {}

  /** How many shift changes were notified so far: a roster built at this count is current until it grows. */
  get changes(): number {
    return this.seq;
  }

  /** A terminal's roster was (re)published: which badges of which worker it holds now. */
  setRoster(terminalId: string, workers: Map<string, string[]>): void {
    for (const w of this.byTerminal.get(terminalId) ?? []) {
      const m = this.byWorker.get(w);
      m?.delete(terminalId);
      if (m && m.size === 0) this.byWorker.delete(w);
    }
    for (const [w, badges] of workers) {
      let m = this.byWorker.get(w);
      if (!m) this.byWorker.set(w, (m = new Map()));
      m.set(terminalId, badges);
    }
    this.byTerminal.set(terminalId, [...workers.keys()]);
    this.rosterAt.set(terminalId, this.seq);
  }

  /**
   * Whether a state of a worker in this terminal's roster changed since the roster was published: a terminal
   * that reconnects then gets its roster again, with the states of now; otherwise its retained roster holds.
   */
  rosterStale(terminalId: string): boolean {
    const at = this.rosterAt.get(terminalId);
    if (at === undefined) return true;
    for (const w of this.byTerminal.get(terminalId) ?? []) if ((this.changedAt.get(w) ?? 0) > at) return true;
    return false;
  }

  /** A terminal no longer has a roster (deleted, no site). */
  dropTerminal(terminalId: string): void {
    this.setRoster(terminalId, new Map());
    this.byTerminal.delete(terminalId);
    this.rosterAt.delete(terminalId);
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
      const holders = this.byWorker.get(c.workerId);
      if (!holders) continue;
      const since = toOffsetIso(new Date(c.sinceMs));
      // Walk the smaller side: the worker's terminals, or the terminals listening.
      if (holders.size <= receivers.size) {
        for (const [terminalId, badges] of holders) if (receivers.has(terminalId)) add(terminalId, badges, c, since);
      } else {
        for (const terminalId of receivers) {
          const badges = holders.get(terminalId);
          if (badges) add(terminalId, badges, c, since);
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
