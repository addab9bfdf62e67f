import type { KeyObject } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/logging.ts';
import { updateOfferSchema, type UpdateOffer, type UpdateReport } from '../../shared/mqtt/payloads.ts';
import { checkManifestSignature } from '../../shared/release/manifest.ts';
import { parseWith } from '../../shared/schema.ts';
import type { DownloadError } from './download.ts';
import type { ReleaseState } from './release-state.ts';

/**
 * The terminal's side of signed updates. The gateway offers a release in the terminal's retained config;
 * the agent then, one offer at a time:
 *
 * 1. checks the publisher's Ed25519 signature on the offer's manifest with the key given at pairing (the
 *    gateway cannot forge it), before downloading anything;
 * 2. downloads the bundle over HTTPS (gateway CA pinned, client certificate), checking size and SHA-256
 *    against the signed manifest; a cut download is tried again, a wrong bundle is not;
 * 3. installs it beside the running version (terminal/update/install.ts);
 * 4. waits until nobody is at the door (no tap for `quietSeconds`), puts the new version on trial in the
 *    releases folder and asks to be restarted: the process ends cleanly (outbox closed, offline status
 *    sent) and systemd starts the launcher again, which starts the new version;
 * 5. in the new version, once it is online and has heard from the gateway, confirms the trial and reports
 *    the version running. If it never gets there, the launcher goes back to the previous version, which
 *    reports the rollback and why, and never takes that offer again.
 *
 * Through all of it the outbox is the same file, untouched by the update: taps queued before, during and
 * after are sent once, in order, by whichever version runs. What the agent reports goes into the status
 * message (`update`), so the console shows where each terminal stands.
 */
export interface UpdateAgentOptions {
  /** The version of the code running now, and the launcher's name for it ("base" or the version). */
  running: { version: string; release: string };
  /** The releases folder shared with the launcher; absent when the terminal was not started by it. */
  state: ReleaseState | undefined;
  /** The installed package (its node_modules serve every release). */
  baseDir: string;
  publicKey: KeyObject;
  gateway: { url: string; ca: Buffer };
  identity?: () => { key: string; cert: string } | undefined;
  trialSeconds: number;
  quietSeconds: number;
  logger: Logger;
  /** Milliseconds since the last tap (Infinity when none yet). */
  sinceLastTapMs(): number;
  /** Ends this process cleanly so that the launcher starts the new version. */
  restart(version: string): void;
  /** The report changed: send a status now. */
  onReport(): void;
  /** Between attempts of a download that was cut (default 30 s, then 60 s). */
  retryDelayMs?: number;
  maxAttempts?: number;
  now?: () => number;
}

export class UpdateAgent {
  private current: UpdateReport | undefined;
  private busy: Promise<void> | null = null;
  /** The newest offer seen while busy: handled when the current one ends. */
  private pending: unknown;
  private stopped = false;

  constructor(private readonly o: UpdateAgentOptions) {}

  /** What the status message carries about the update, if anything. */
  get report(): UpdateReport | undefined {
    return this.current;
  }

  /** Waits for the job at hand (tests). */
  async settled(): Promise<void> {
    while (this.busy) await this.busy;
  }

  stop(): void {
    this.stopped = true;
  }

  private setReport(report: UpdateReport | undefined): void {
    const same = JSON.stringify(report) === JSON.stringify(this.current);
    this.current = report;
    if (!same) this.o.onReport();
  }

  /**
   * The gateway answered on a live connection (its config arrived): the version running is online and
   * healthy. A trial of this version is confirmed; a rollback the launcher made is taken note of.
   */
  healthy(): void {
    const state = this.o.state;
    if (!state) return;
    const trial = state.trial;
    if (trial && trial.version === this.o.running.release) {
      state.confirmTrial();
      this.o.logger.info({ version: trial.version, rollout: trial.rollout }, 'release is online and healthy: kept');
      this.setReport({ version: this.o.running.version, rollout: trial.rollout, state: 'running' });
      const removed = state.prune([this.o.running.release, state.previous]);
      if (removed.length) this.o.logger.info({ removed }, 'older releases removed');
    }
    const back = state.settleRollback();
    if (back) this.o.logger.warn({ version: back.version, rollout: back.rollout, reason: back.reason }, 'the new release did not come up: back on this version');
  }

  /** The `update` of the gateway's config (undefined: no release offered). */
  offer(raw: unknown): void {
    if (this.stopped) return;
    if (this.busy) {
      this.pending = raw;
      return;
    }
    if (raw === undefined) {
      this.setReport(undefined);
      return;
    }
    const parsed = parseWith(updateOfferSchema, raw);
    if (!parsed.ok) {
      this.o.logger.warn({ problems: parsed.problems.slice(0, 5) }, 'ignored an update offer this terminal cannot read');
      this.setReport({ version: String((raw as { version?: unknown }).version ?? '?').slice(0, 64), state: 'failed', reason: `offer unreadable: ${parsed.problems[0]?.message ?? 'invalid'}`.slice(0, 300) });
      return;
    }
    const offer = parsed.value;
    if (offer.version === this.o.running.version) {
      this.setReport({ version: offer.version, rollout: offer.rollout, state: 'running' });
      return;
    }
    const declined = this.o.state?.declined().get(`${offer.version} ${offer.rollout}`);
    if (declined) {
      this.setReport({ version: offer.version, rollout: offer.rollout, state: declined.state, reason: declined.reason.slice(0, 300) });
      return;
    }
    if (!this.o.state) {
      this.setReport({ version: offer.version, rollout: offer.rollout, state: 'failed', reason: 'this terminal was not started by its launcher (deploy/ciao-terminal-launcher), so it cannot switch versions' });
      return;
    }
    this.busy = this.apply(offer, this.o.state).finally(() => {
      this.busy = null;
      if (this.pending !== undefined && !this.stopped) {
        const next = this.pending;
        this.pending = undefined;
        this.offer(next);
      }
    });
  }

  private async apply(offer: UpdateOffer, state: ReleaseState): Promise<void> {
    const { version, rollout } = offer;
    const log = this.o.logger.child({ version, rollout });
    const fail = (reason: string) => {
      log.warn({ reason }, 'update refused or failed; this version stays');
      state.decline(version, rollout, 'failed', reason);
      this.setReport({ version, rollout, state: 'failed', reason: reason.slice(0, 300) });
    };
    const manifest = offer.signed.manifest;
    const bad = checkManifestSignature(offer.signed, this.o.publicKey);
    if (bad) return fail(bad.message);
    if (manifest.version !== version) return fail(`the signed manifest is for ${manifest.version}, the offer for ${version}`);

    // Loaded when an update comes, not at every start (tar and the HTTPS client are not on the tap path).
    const { DownloadError: Failed, downloadBundle } = await import('./download.ts');
    const { installRelease } = await import('./install.ts');
    this.setReport({ version, rollout, state: 'downloading' });
    log.info({ size: manifest.size }, 'downloading a signed release');
    const file = join(state.dir, `.download-${version}.tar.gz`);
    const attempts = this.o.maxAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        const identity = this.o.identity?.();
        await downloadBundle({ url: new URL(offer.bundle, this.o.gateway.url), file, manifest, ca: this.o.gateway.ca, ...(identity ? { key: identity.key, cert: identity.cert } : {}) });
        break;
      } catch (err) {
        const transient = err instanceof Failed && (err as DownloadError).transient;
        if (!transient || attempt >= attempts || this.stopped) return fail((err as Error).message);
        log.warn({ err: (err as Error).message, attempt }, 'download cut; trying again');
        await new Promise((r) => setTimeout(r, (this.o.retryDelayMs ?? 30_000) * attempt).unref());
      }
    }

    this.setReport({ version, rollout, state: 'installing' });
    try {
      await installRelease({ bundle: file, manifest, state, baseDir: this.o.baseDir });
    } catch (err) {
      return fail((err as Error).message);
    } finally {
      rmSync(file, { force: true });
    }
    log.info('release installed beside the running one; waiting for a quiet moment to restart into it');

    // Never in a worker's face: the restart waits until nobody has tapped for a while.
    const quietMs = this.o.quietSeconds * 1000;
    while (!this.stopped && this.o.sinceLastTapMs() < quietMs) await new Promise((r) => setTimeout(r, Math.min(1000, quietMs)).unref());
    if (this.stopped) return;

    const now = this.o.now?.() ?? Date.now();
    state.beginTrial(version, this.o.running.release, rollout, Math.floor(now / 1000) + this.o.trialSeconds);
    this.setReport({ version, rollout, state: 'restarting' });
    log.info({ trialSeconds: this.o.trialSeconds }, 'restarting into the new release');
    this.o.restart(version);
  }
}
