import type { SqlStore } from '../store/sql-store.ts';
import type { Logger } from '../../shared/logging.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import type { Language } from '../../shared/mqtt/payloads.ts';
import { siteDataVersion } from '../store/database.ts';
import { listTerminals } from '../site-data/terminals.ts';
import { listSites } from '../site-data/sites.ts';
import { updateOffers } from '../fleet/releases.ts';
import { siteRosterView, terminalConfigFor, terminalConfigOf, type RosterView } from './terminal-view.ts';
import type { ShiftNotifier } from './shift-notifier.ts';
import { localDate } from '../../shared/time.ts';

/** Publishes a retained message; the broker adapter implements it. */
export interface RetainedSink {
  publishRetained(topic: string, payload: string | Buffer): void;
}

/**
 * Keeps each terminal's retained `config` and `roster` in step with the site data. `ciao admin` changes the
 * database from another process; triggers bump `site_data_version`, which this polls (one indexed read a
 * second). Republishing also happens when the day changes, since rosters depend on the day. A roster carries
 * each worker's shift state as it is when published; changes after that go out as `shifts` messages
 * (shift-notifier.ts), and a terminal that connects gets its roster again, with the states of that moment.
 */
export class SitePublisher {
  private version = -1;
  private day = '';
  private timer: NodeJS.Timeout | undefined;
  private languages = new Map<string, Language>();
  private readonly siteDataListeners: Array<() => void> = [];
  /**
   * The last roster built per site, with the site-data version, the day and the count of shift changes it
   * was built at: terminals of a site that connect while nothing changed (a site's terminals coming back
   * after a network cut) get it without a rebuild.
   */
  private readonly lastRosters = new Map<string, { roster: SiteRoster; version: number; day: string; changes: number }>();
  /** A check is running: the poll skips its turn rather than overlap it (a read on PostgreSQL takes time). */
  private checking: Promise<void> | undefined;

  /** `store`: the site-data version, the terminals, their sites, their release offers and the rosters are read through the storage port. */
  constructor(
    private readonly store: SqlStore,
    private readonly sink: RetainedSink,
    private readonly logger: Logger,
    private readonly opts: { pollMs: number; maxClockSkewMs: number; maxShiftHours?: number; onChange?: () => void | Promise<void>; now?: () => Date; shifts?: ShiftNotifier },
  ) {}

  /** Publishes once, then polls. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.opts.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Called after the site data changed (from this process or `ciao admin`), once the terminals were told. */
  onSiteDataChange(listener: () => void): void {
    this.siteDataListeners.push(listener);
  }

  languageOf(terminalId: string): Language {
    return this.languages.get(terminalId) ?? 'fr';
  }

  /** Republishes if the site data or the day changed. */
  check(): Promise<void> {
    this.checking ??= this.checkNow().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async checkNow(): Promise<void> {
    try {
      const v = await siteDataVersion(this.store);
      const day = localDate(this.opts.now?.() ?? new Date());
      if (v === this.version && day === this.day) return;
      const changed = v !== this.version && this.version !== -1;
      await this.publishAll();
      this.version = v;
      if (changed) {
        // Awaited: terminals no longer allowed are put out before the listeners are told, as before.
        await this.opts.onChange?.();
        for (const l of this.siteDataListeners) l();
      }
      this.day = day;
    } catch (err) {
      this.logger.error({ err }, 'could not republish terminal config and roster');
    }
  }

  async publishAll(): Promise<void> {
    const now = this.opts.now?.() ?? new Date();
    const languages = new Map<string, Language>();
    // Every terminal of a site has the site's roster: built (and serialised) once per site.
    const rosters = new Map<string, SiteRoster>();
    let count = 0;
    const sites = new Map((await listSites(this.store)).map((s) => [s.id, s]));
    const offers = await updateOffers(this.store);
    for (const t of await listTerminals(this.store)) {
      const site = t.siteId === null ? undefined : sites.get(t.siteId);
      if (!site) {
        this.opts.shifts?.dropTerminal(t.id);
        continue;
      }
      const config = terminalConfigOf(t, site, offers.get(t.id), { maxClockSkewMs: this.opts.maxClockSkewMs, maxShiftHours: this.opts.maxShiftHours, now });
      languages.set(t.id, config.language);
      this.sink.publishRetained(topicFor(t.id, 'config'), JSON.stringify(config));
      let roster = rosters.get(config.site.id);
      if (!roster) rosters.set(config.site.id, (roster = await this.siteRoster(config.site.id, now)));
      this.publishRosterOf(t.id, roster);
      count += 1;
    }
    this.languages = languages;
    this.logger.info({ terminals: count }, 'terminal config and roster published');
  }

  /**
   * A terminal connected: if a state of a worker of its roster changed since the roster was published, it
   * is published again with the states of now (the messages the terminal missed while away).
   */
  async publishRoster(terminalId: string): Promise<void> {
    try {
      if (this.opts.shifts && !this.opts.shifts.rosterStale(terminalId)) return;
      const config = await terminalConfigFor(this.store, terminalId, { maxClockSkewMs: this.opts.maxClockSkewMs });
      if (!config) return;
      this.publishRosterOf(terminalId, await this.siteRoster(config.site.id, this.opts.now?.() ?? new Date()));
    } catch (err) {
      this.logger.error({ err, terminalId }, 'could not republish the roster');
    }
  }

  private async siteRoster(siteId: string, now: Date): Promise<SiteRoster> {
    const day = localDate(now);
    // Without a notifier, shift changes are not counted here: always built afresh.
    const changes = this.opts.shifts?.changes ?? -1;
    const version = await siteDataVersion(this.store);
    const last = this.lastRosters.get(siteId);
    if (last && last.version === version && last.day === day && last.changes === changes && changes >= 0) return last.roster;
    const view = await siteRosterView(this.store, siteId, now);
    // One buffer for the site: each terminal's retained roster is the same bytes, kept once. The roster's
    // objects are not kept: its message and which worker holds which badges are all that is needed after.
    const roster = { workers: view.workers, payload: Buffer.from(JSON.stringify(view.roster)) };
    this.lastRosters.set(siteId, { roster, version, day, changes });
    return roster;
  }

  private publishRosterOf(terminalId: string, roster: SiteRoster): void {
    this.opts.shifts?.setRoster(terminalId, roster.workers);
    this.sink.publishRetained(topicFor(terminalId, 'roster'), roster.payload);
  }
}

/** A site's roster as its terminals are given it: the message, and which badges of which worker it holds. */
interface SiteRoster {
  workers: RosterView['workers'];
  payload: Buffer;
}
