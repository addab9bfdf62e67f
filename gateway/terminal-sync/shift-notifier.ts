import type { Logger } from '../../shared/logging.ts';
import { API_VERSION, type ShiftChange as ShiftEntry, type ShiftsMessage } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import type { ShiftChange } from '../ingest/shift-tracker.ts';

/** Where `shifts` messages go: the broker adapter. */
export interface ShiftSink {
  sendShifts(terminalId: string, payload: string): void;
  /** Connected and subscribed to its `shifts` topic. */
  receivesShifts(terminalId: string): boolean;
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

  constructor(private readonly sink: ShiftSink, private readonly logger: Logger) {}

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
  }

  /** A terminal no longer has a roster (deleted, no site). */
  dropTerminal(terminalId: string): void {
    this.setRoster(terminalId, new Map());
    this.byTerminal.delete(terminalId);
  }

  /** The changes of one commit, sent at once. */
  notify(changes: ShiftChange[]): void {
    if (changes.length === 0) return;
    const out = new Map<string, ShiftEntry[]>();
    const deliverable = new Map<string, boolean>();
    for (const c of changes) {
      const holders = this.byWorker.get(c.workerId);
      if (!holders) continue;
      let since: string | undefined;
      for (const [terminalId, badges] of holders) {
        let ok = deliverable.get(terminalId);
        if (ok === undefined) deliverable.set(terminalId, (ok = this.sink.receivesShifts(terminalId)));
        if (!ok) continue;
        since ??= toOffsetIso(new Date(c.sinceMs));
        let list = out.get(terminalId);
        if (!list) out.set(terminalId, (list = []));
        for (const badge of badges) list.push({ badge, state: c.state, since, site: c.siteId, rev: c.rev });
      }
    }
    for (const [terminalId, badges] of out) {
      const message: ShiftsMessage = { v: API_VERSION, badges };
      this.sink.sendShifts(terminalId, JSON.stringify(message));
    }
    if (out.size) this.logger.debug({ terminals: out.size, changes: changes.length }, 'shift states sent');
  }
}
