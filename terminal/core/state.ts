import { EventEmitter } from 'node:events';
import type { Language, Roster, RosterEntry, TerminalConfig } from '../../shared/mqtt/payloads.ts';

/**
 * What the terminal currently knows: its settings (the gateway's retained config, or the local defaults
 * until one arrives), the roster, whether the gateway is reachable, the reader is there, and how far its
 * clock is from the gateway's. The pipeline reads it on every tap; the link and adapters write it.
 */
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
}

export type Settings = LocalDefaults;

export interface TerminalStateEvents {
  changed: [];
}

export class TerminalState extends EventEmitter<TerminalStateEvents> {
  private remote: TerminalConfig | null = null;
  private roster: Roster | null = null;
  online = false;
  readerAttached = false;
  /** Gateway clock minus local clock, as last measured (ms); null before any measurement. */
  clockSkewMs: number | null = null;

  constructor(private readonly defaults: LocalDefaults) {
    super();
  }

  get settings(): Settings {
    const c = this.remote;
    if (!c) return this.defaults;
    return {
      ...this.defaults,
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

  setOnline(online: boolean): void {
    if (this.online === online) return;
    this.online = online;
    this.emit('changed');
  }

  setReaderAttached(attached: boolean): void {
    if (this.readerAttached === attached) return;
    this.readerAttached = attached;
    this.emit('changed');
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
