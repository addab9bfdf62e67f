import { EventEmitter } from 'node:events';
import type { Logger } from '../../shared/logging.ts';
import type { TapMessage, TapSun } from '../../shared/mqtt/payloads.ts';
import type { CannotRegisterReason } from '../../shared/mqtt/payloads.ts';
import type { Direction, Reason } from '../../shared/registration.ts';
import { localParts, toOffsetIso } from '../../shared/time.ts';
import { proposeDirection, stateHere, workerShift, type WorkerShift } from './direction.ts';
import { CANNOT_REGISTER_KEYS, fitLine, message, spread, type DIRECTION_KEYS, type MessageKey } from './messages.ts';
import type { Outbox } from './outbox.ts';
import type { Clock, Panel, PanelButton } from './ports.ts';
import { timeOrderedUuid } from '../../shared/ids.ts';
import type { Settings, TerminalState } from './state.ts';

/**
 * The tap pipeline: badge in, durable tap out, feedback within milliseconds.
 * Order on every tap: debounce, direction, outbox commit (fsync), then LCD/LED/beep, then the publisher
 * is told. Nothing here waits on the network or the panel hardware.
 */
export interface PipelineOptions {
  outbox: Outbox;
  panel: Panel;
  state: TerminalState;
  clock: Clock;
  logger: Logger;
  /** Called after a tap is committed and ready to publish. */
  onTapReady: () => void;
  /** Skews smaller than this are measurement noise: taps keep the local time. */
  clockCorrectionThresholdMs: number;
  /** Test seam: runs right after the outbox commit, before any feedback. */
  afterOutboxWrite?: (tap: TapMessage) => void;
}

export type TapOutcome =
  | { kind: 'queued'; tap: TapMessage; known: boolean; choosing: boolean }
  | { kind: 'debounced'; badge: string }
  /** Nothing was recorded: the terminal cannot register now (FAQ 31) and said so on the panel. */
  | { kind: 'refused'; badge: string; reason: CannotRegisterReason };

/** What a tap of a badge would do now: the worker's state as this terminal knows it and the direction proposed. */
export interface Proposal {
  shift: WorkerShift;
  direction: Direction;
  reason: Reason;
}

export interface PipelineEvents {
  /** A tap was committed to the outbox (held taps included). */
  tap: [outcome: Extract<TapOutcome, { kind: 'queued' }>];
  debounced: [badge: string];
  /** A badge was presented while the terminal cannot register: nothing recorded, the worker sent to the QR code. */
  refused: [badge: string, reason: CannotRegisterReason];
  /** A held tap was released, with or without an employer. */
  employerChosen: [tap: TapMessage, chosen: boolean];
}

interface PendingChoice {
  seq: number;
  badge: string;
  name: string;
  employers: Array<{ id: string; name: string }>;
  page: number;
  direction: Direction;
  reason: Reason;
  displayTime: string;
  timer: NodeJS.Timeout;
}

export class TapPipeline extends EventEmitter<PipelineEvents> {
  private armed: { button: PanelButton; untilMs: number } | null = null;
  private choice: PendingChoice | null = null;

  /** True while the LCD asks the worker to choose an employer. */
  get choosing(): boolean {
    return this.choice !== null;
  }
  private idleTimer: NodeJS.Timeout | null = null;
  private showingFeedback = false;
  /** The tap whose feedback is on the LCD now (the gateway may add a line to it). */
  private feedbackTapId: string | null = null;
  private readonly refresh: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: PipelineOptions) {
    super();
    o.panel.on('button', (b) => this.guard(() => this.onButton(b)));
    o.state.on('changed', () => {
      if (!this.showingFeedback && !this.choice) this.showIdle();
    });
    // The idle screen shows the time: refresh it every few seconds (cheap; adapters skip unchanged text).
    // After a failed outbox write, the same beat tries a small write, so the panel recovers by itself.
    this.refresh = setInterval(() => {
      this.guard(() => this.probeOutbox());
      if (!this.showingFeedback && !this.choice) this.showIdle();
    }, 5_000);
    this.refresh.unref();
    // Held taps from before a restart: nobody is choosing any more.
    const released = o.outbox.releaseHeld();
    if (released > 0) o.logger.info({ released }, 'released taps held for an employer choice before restart');
  }

  start(): void {
    this.showIdle();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.refresh);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.choice) this.finishChoice(undefined);
  }

  /**
   * Entry point for the reader's `badge` event. Returns what happened (for tests and the simulator).
   * `read.sun` is the badge's signed message, kept in the tap as read (the gateway verifies it).
   */
  handleBadge(rawUid: string, read: { sun?: TapSun } = {}): TapOutcome | undefined {
    if (this.stopped) return undefined;
    const uid = rawUid.toUpperCase();
    const { outbox, state, panel, clock } = this.o;
    const settings = state.settings;
    const language = settings.language;
    const localMs = clock.now().getTime();

    if (this.choice) {
      if (this.choice.badge === uid) {
        panel.beep('choose');
        this.showChoice();
        return { kind: 'debounced', badge: uid };
      }
      this.finishChoice(undefined);
    }

    // FAQ 31: a terminal that does not know its site records nothing (its taps could not be registered, and the
    // worker is sent to the QR code instead: a tap kept here as well would later make a second registration).
    if (state.cannotRegister.includes('no-site-config')) return this.refuse(uid, 'no-site-config');

    const last = outbox.lastOwnTap(uid);
    if (last && settings.debounceSeconds > 0 && localMs >= last.localMs && localMs - last.localMs < settings.debounceSeconds * 1000) {
      this.armed = null;
      panel.setLed('green');
      panel.beep('already');
      this.show(fitLine(state.lookup(uid)?.name ?? message(language, 'unknownBadge')), fitLine(message(language, 'alreadyRegistered')));
      this.scheduleIdle();
      this.emit('debounced', uid);
      return { kind: 'debounced', badge: uid };
    }

    const skew = state.clockSkewMs;
    const corrected = skew !== null && Math.abs(skew) >= this.o.clockCorrectionThresholdMs;
    const atMs = corrected ? localMs + skew! : localMs;
    const atDate = new Date(atMs);

    const armed = this.armed && localMs <= this.armed.untilMs ? this.armed.button : null;
    this.armed = null;
    const { direction, reason } = proposeDirection(stateHere(this.shiftOf(uid, atMs), settings.siteId), armed);
    const entry = state.lookup(uid);
    const choosing = entry !== undefined && entry.employers.length > 1;

    let tap: TapMessage;
    try {
      tap = outbox.append(
        {
          v: 1,
          // Time-ordered: the gateway's index of tap ids then grows at its end (shared/ids.ts).
          id: timeOrderedUuid(),
          badge: uid,
          direction,
          reason,
          at: toOffsetIso(atDate),
          ...(corrected ? { localAt: toOffsetIso(new Date(localMs)) } : {}),
          ...(read.sun ? { sun: read.sun } : {}),
        },
        { ready: !choosing, nowIso: new Date(localMs).toISOString(), atMs, localMs },
      );
    } catch (err) {
      // Disk full, read-only file system, a broken file: the tap is not recorded, and the worker must know it
      // at once rather than walk away thinking it counted.
      this.o.logger.error({ err }, 'a tap could not be written to the outbox; the panel sends the worker to the CIaO QR code');
      state.setOutboxWritable(false);
      return this.refuse(uid, 'outbox-unwritable');
    }
    state.setOutboxWritable(true);
    this.o.afterOutboxWrite?.(tap);

    const p = localParts(atDate);
    const displayTime = `${String(p.hour).padStart(2, '0')}:${String(p.minute).padStart(2, '0')}`;
    if (!entry) {
      panel.setLed('red');
      panel.beep('refused');
      this.show(fitLine(message(language, 'unknownBadge')), spread(message(language, directionKey(direction, reason)), displayTime));
      this.scheduleIdle();
    } else if (choosing) {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.showingFeedback = true;
      this.choice = {
        seq: tap.seq,
        badge: uid,
        name: entry.name,
        employers: entry.employers,
        page: 0,
        direction,
        reason,
        displayTime,
        timer: setTimeout(() => this.guard(() => this.finishChoice(undefined)), settings.choiceTimeoutSeconds * 1000),
      };
      this.choice.timer.unref();
      panel.setLed('off');
      panel.beep('choose');
      this.showChoice();
    } else {
      panel.setLed('green');
      panel.beep('ok');
      this.show(fitLine(entry.name), spread(message(language, directionKey(direction, reason)), displayTime));
      this.scheduleIdle();
    }

    this.feedbackTapId = choosing ? null : tap.id;
    const outcome = { kind: 'queued' as const, tap, known: entry !== undefined, choosing };
    this.emit('tap', outcome);
    if (!choosing) this.o.onTapReady();
    return outcome;
  }

  /**
   * Entry point for the reader's `misread` event: a badge taken away before it was read in full. Nothing is
   * recorded; the worker sees and hears that the tap did not count and must tap again. An open employer
   * choice is left alone.
   */
  handleMisread(): void {
    if (this.stopped || this.choice) return;
    const language = this.o.state.settings.language;
    this.o.panel.setLed('red');
    this.o.panel.beep('warning');
    this.show(fitLine(message(language, 'misread')), fitLine(message(language, 'tapAgain')));
    this.scheduleIdle();
  }

  /**
   * The gateway's short text for a tap (ack `display`), shown on line 2 while that tap's feedback is still
   * on screen; later it would confuse the next worker, so it is dropped.
   */
  showGatewayText(tapId: string, text: string): void {
    if (this.stopped || !this.showingFeedback || this.choice || this.feedbackTapId !== tapId) return;
    this.show(this.shown[0], fitLine(text));
  }

  /** IN/OUT/BREAK buttons: choose an employer while a choice is open, otherwise arm the next tap. */
  private onButton(button: PanelButton): void {
    if (this.stopped) return;
    const { panel, state, clock } = this.o;
    if (this.choice) {
      const c = this.choice;
      if (button === 'BREAK') {
        c.page = (c.page + 1) % Math.ceil(c.employers.length / 2);
        this.showChoice();
        return;
      }
      const picked = c.employers[c.page * 2 + (button === 'IN' ? 0 : 1)];
      if (picked) this.finishChoice(picked.id);
      return;
    }
    const settings = state.settings;
    if (!settings.buttons.includes(button)) return;
    this.armed = { button, untilMs: clock.now().getTime() + settings.armSeconds * 1000 };
    const key: MessageKey = button === 'IN' ? 'armedIn' : button === 'OUT' ? 'armedOut' : 'armedBreak';
    panel.beep('choose');
    this.show(fitLine(message(settings.language, key)), fitLine(message(settings.language, 'ready')));
    this.scheduleIdle(settings.armSeconds * 1000);
  }

  /**
   * What a tap of this badge would do now, without a button (for the simulator and tests; a tap decides the
   * same way). Reads the terminal's clock, corrected for a measured skew like a tap's time.
   */
  proposal(rawUid: string): Proposal {
    const uid = rawUid.toUpperCase();
    const skew = this.o.state.clockSkewMs;
    const localMs = this.o.clock.now().getTime();
    const atMs = skew !== null && Math.abs(skew) >= this.o.clockCorrectionThresholdMs ? localMs + skew : localMs;
    const shift = this.shiftOf(uid, atMs);
    return { shift, ...proposeDirection(stateHere(shift, this.o.state.settings.siteId)) };
  }

  /** The worker's state as this terminal knows it: the newer of what it heard from the gateway and its own last tap. */
  private shiftOf(uid: string, nowMs: number): WorkerShift {
    const heard = this.o.outbox.heardShift(uid);
    const own = this.o.outbox.lastOwnTap(uid);
    return workerShift({
      heard: heard ? { state: heard.state, sinceMs: heard.sinceMs, site: heard.site } : undefined,
      own: own ? { direction: own.direction, reason: own.reason, atMs: own.atMs } : undefined,
      hereSite: this.o.state.settings.siteId,
      nowMs,
      maxShiftHours: this.o.state.settings.maxShiftHours,
    });
  }

  /** FAQ 31: nothing recorded; the panel says why and points to the declaration's CIaO QR code. */
  private refuse(uid: string, reason: CannotRegisterReason): TapOutcome {
    this.armed = null;
    const { panel, state } = this.o;
    panel.setLed('red');
    panel.beep('refused');
    this.showCannotRegister(state.settings.language, reason);
    this.scheduleIdle();
    this.emit('refused', uid, reason);
    return { kind: 'refused', badge: uid, reason };
  }

  /** After a failed write, a small write tells whether the outbox takes taps again. */
  private probeOutbox(): void {
    if (this.stopped || this.o.state.outboxWritable) return;
    try {
      this.o.outbox.setValue('writable_probe', new Date(this.o.clock.now().getTime()).toISOString());
      this.o.logger.info('the outbox takes taps again');
      this.o.state.setOutboxWritable(true);
    } catch {
      // Still failing: the panel keeps pointing to the QR code.
    }
  }

  private showCannotRegister(language: Settings['language'], reason: CannotRegisterReason): void {
    this.show(fitLine(message(language, CANNOT_REGISTER_KEYS[reason])), fitLine(message(language, 'useQrCode')));
  }

  private showChoice(): void {
    const c = this.choice;
    if (!c) return;
    const language = this.o.state.settings.language;
    const first = c.employers[c.page * 2];
    const second = c.employers[c.page * 2 + 1];
    const more = c.employers.length > 2 ? ` >${message(language, 'more')}` : '';
    // Line 1 answers to the IN button, line 2 to OUT; BREAK pages through longer lists.
    this.show(fitLine(`IN:${first?.name ?? ''}`), fitLine(second ? `OUT:${second.name}` : `${message(language, 'chooseEmployer')}${more}`));
  }

  private finishChoice(employer: string | undefined): void {
    const c = this.choice;
    if (!c) return;
    this.choice = null;
    clearTimeout(c.timer);
    const tap = this.o.outbox.complete(c.seq, employer);
    const language = this.o.state.settings.language;
    if (!this.stopped) {
      this.o.panel.setLed('green');
      this.o.panel.beep('ok');
      const label = message(language, directionKey(c.direction, c.reason));
      this.show(fitLine(c.name), employer ? spread(label, c.displayTime) : fitLine(message(language, 'noChoice')));
      this.scheduleIdle();
    }
    if (tap) this.emit('employerChosen', tap, employer !== undefined);
    this.o.onTapReady();
  }

  private scheduleIdle(ms = this.o.state.settings.feedbackSeconds * 1000): void {
    this.showingFeedback = true;
    this.feedbackTapId = null;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.showingFeedback = false;
      this.guard(() => this.showIdle());
    }, ms);
    this.idleTimer.unref();
  }

  private showIdle(): void {
    if (this.stopped) return;
    const { state, panel, clock } = this.o;
    const language = state.settings.language;
    const skew = state.clockSkewMs;
    const corrected = skew !== null && Math.abs(skew) >= this.o.clockCorrectionThresholdMs;
    const p = localParts(new Date(corrected ? clock.now().getTime() + skew! : clock.now().getTime()));
    const time = `${String(p.hour).padStart(2, '0')}:${String(p.minute).padStart(2, '0')}`;
    const cannot = state.cannotRegister[0];
    if (cannot) {
      panel.setLed('off');
      this.showCannotRegister(language, cannot);
      return;
    }
    const flag = state.clockWrong
        ? message(language, 'clockWrong')
        : !state.online
          ? message(language, 'offline')
          : '';
    panel.setLed('off');
    this.show(fitLine(message(language, 'ready')), flag ? spread(time, flag) : time);
  }

  private shown: [string, string] = ['', ''];

  private show(line1: string, line2: string): void {
    this.shown = [line1, line2];
    this.o.panel.show(line1, line2);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.logger.error({ err }, 'tap pipeline step failed');
    }
  }
}

function directionKey(direction: Direction, reason: Reason): (typeof DIRECTION_KEYS)[number] {
  if (reason === 'break') return direction === 'OUT' ? 'breakStart' : 'breakEnd';
  return direction === 'IN' ? 'in' : 'out';
}
