import { EventEmitter } from 'node:events';
import { DEFAULT_MAX_SHIFT_HOURS, type CannotRegisterReason, type Language, type Roster, type RosterEntry, type TerminalConfig } from '../../shared/mqtt/payloads.ts';

/**
 * What the terminal currently knows: its settings (the gateway's retained config, or the local defaults
 * until one arrives), the roster, whether the gateway is reachable, the reader is there, and how far its
 * clock is from the gateway's. The pipeline reads it on every tap; the link and adapters write it.
 */

/** The site id of a terminal file that names none: such a terminal knows no site until the gateway's config comes. */
export const UNKNOWN_SITE = 'unknown-site';

export interface LocalDefaults {
  siteId: string;
  siteName: string;
  language: Language;
  debounceSeconds: number;
  armSeconds: number;
  buttons: Array<'IN' | 'OUT' | 'BREAK'>;
  maxClockSkewMs: number;
  choiceTimeoutSeconds: number;
  feedbackSeconds: number;
  /** A working or break state older than this counts as off (the shift lapsed). */
  maxShiftHours?: number;
}

export type Settings = LocalDefaults & { maxShiftHours: number };

export interface TerminalStateEvents {
  changed: [];
}

export class TerminalState extends EventEmitter<TerminalStateEvents> {
  private remote: TerminalConfig | null = null;
  private roster: Roster | null = null;
  online = false;
  /** The gateway address the link is connected to; null while offline. */
  gateway: string | null = null;
  readerAttached = false;
  /** False after a tap could not be committed to the outbox, until a write succeeds again. */
  outboxWritable = true;
  /** Gateway clock minus local clock, as last measured (ms); null before any measurement. */
  clockSkewMs: number | null = null;

  constructor(private readonly defaults: LocalDefaults) {
    super();
  }

  get settings(): Settings {
    const c = this.remote;
    const maxShiftHours = c?.maxShiftHours ?? this.defaults.maxShiftHours ?? DEFAULT_MAX_SHIFT_HOURS;
    if (!c) return { ...this.defaults, maxShiftHours };
    return {
      ...this.defaults,
      maxShiftHours,
      siteId: c.site.id,
      siteName: c.site.name,
      language: c.language,
      debounceSeconds: c.debounceSeconds,
      armSeconds: c.buttons.armSeconds,
      buttons: c.buttons.enabled,
      maxClockSkewMs: c.maxClockSkewMs,
      feedbackSeconds: c.feedbackSeconds ?? this.defaults.feedbackSeconds,
    };
  }

  get config(): TerminalConfig | null {
    return this.remote;
  }

  /** The roster in force (badge UIDs upper-case), null before any. */
  get currentRoster(): Roster | null {
    return this.roster;
  }

  get rosterUpdatedAt(): string | null {
    return this.roster?.updatedAt ?? null;
  }

  setConfig(config: TerminalConfig): void {
    this.remote = config;
    this.emit('changed');
  }

  setRoster(roster: Roster): void {
    // Badge UIDs are compared upper-case, whatever case the gateway used.
    const badges: Record<string, RosterEntry> = {};
    for (const [uid, entry] of Object.entries(roster.badges)) badges[uid.toUpperCase()] = entry;
    this.roster = { ...roster, badges };
    this.emit('changed');
  }

  lookup(uid: string): RosterEntry | undefined {
    return this.roster?.badges[uid];
  }

  /** Online or not, and the address of the gateway it is on (a terminal may be given several). */
  setOnline(online: boolean, gateway: string | null = null): void {
    const on = online ? gateway : null;
    if (this.online === online && this.gateway === on) return;
    this.online = online;
    this.gateway = on;
    this.emit('changed');
  }

  setReaderAttached(attached: boolean): void {
    if (this.readerAttached === attached) return;
    this.readerAttached = attached;
    this.emit('changed');
  }

  setOutboxWritable(writable: boolean): void {
    if (this.outboxWritable === writable) return;
    this.outboxWritable = writable;
    this.emit('changed');
  }

  /**
   * Why taps cannot be registered now (FAQ 31), most urgent first; empty when they can. Being offline is not
   * one of them: taps wait in the outbox.
   */
  get cannotRegister(): CannotRegisterReason[] {
    const reasons: CannotRegisterReason[] = [];
    if (!this.outboxWritable) reasons.push('outbox-unwritable');
    if (!this.remote && this.defaults.siteId === UNKNOWN_SITE) reasons.push('no-site-config');
    if (!this.readerAttached) reasons.push('no-reader');
    return reasons;
  }

  setClockSkew(ms: number): void {
    const before = this.clockWrong;
    this.clockSkewMs = ms;
    if (before !== this.clockWrong) this.emit('changed');
  }

  /** True when the measured skew is above the configured tolerance. */
  get clockWrong(): boolean {
    return this.clockSkewMs !== null && Math.abs(this.clockSkewMs) > this.settings.maxClockSkewMs;
  }
}
