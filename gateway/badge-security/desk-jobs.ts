import { randomUUID } from 'node:crypto';
import type { SqlStore } from '../store/sql-store.ts';
import type { Logger } from '../../shared/logging.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { conflict, unavailable } from '../../shared/errors.ts';
import { PCSCD_DEFAULT_SOCKET, pcscdListening } from '../../shared/pcscd.ts';
import { toOffsetIso } from '../../shared/time.ts';
import type { Actor } from '../site-data/audit.ts';
import type { Badge } from '../site-data/badges.ts';
import { deskNfcPcscProblem } from './desk-reader.ts';
import { provisionOnDeskReader, type DeskEnrolOptions, type EnrolledBadge, type ProvisionedBadgeInput } from './enrol.ts';
import { EMPTY_KEY_RING, type BadgeKeyRing } from './key-ring.ts';

/**
 * The desk reader attached to the gateway's machine, for the console's "Personalise a blank secure badge":
 * the very operation of `ciao admin badge provision` (enrol.ts), run by the gateway on behalf of a user,
 * one badge at a time. A request while one runs is refused (409 `desk-reader-busy`); without a configured
 * reader, badge keys, pcscd or nfc-pcsc it is refused naming what is missing (503), and the console shows
 * the action disabled with that reason. What the run has done so far (badge placed, authenticated, keys
 * changed, SUN message verified, enrolled) is kept for the console to show; a run cut short anywhere is
 * finished by starting it again on the same badge, as on the command line.
 */
export interface DeskReaderSettings {
  /** Part of the reader's PC/SC name (several readers attached). */
  readerName?: string;
  socketPath?: string;
  waitSeconds?: number;
}

export type DeskJobState = 'waiting-for-reader' | 'waiting-for-badge' | 'personalising' | 'done' | 'failed';

export interface DeskJob {
  id: string;
  workerId: string;
  workerName: string;
  by: { id: string; name: string };
  startedAt: string;
  finishedAt: string | null;
  state: DeskJobState;
  /** The readers the run waits on (once pcscd listed them). */
  readerNames: string[];
  /** What has been done to the badge so far. */
  progress: {
    placed: { readerName: string; uid: string } | null;
    /** Each key as found: `factory`, `ours` (done by an earlier run) or `previous` (an earlier key version). */
    keysFound: string[] | null;
    authenticated: boolean;
    keysChanged: number[];
    sunMirroring: boolean;
    /** The read counter of the check read, once its SUN message verified. */
    verifiedCounter: number | null;
    enrolled: boolean;
  };
  /** The lines `ciao admin badge provision` prints, in order. */
  steps: string[];
  result: { uid: string; kind: Badge['kind']; keyVersion: number | null; validFrom: string; validTo: string | null; previousWorkerId: string | null; previousKeyVersion: number | null; keysChanged: number[] } | null;
  /** Why it failed, and what to do next: start again once the badge is ready, place it again, or enrol it again. */
  error: { message: string; next: 'start-again' | 'present-again' | 'enrol-again'; retry: string } | null;
}

export interface DeskStatus {
  configured: boolean;
  /** Whether a run can start now (nothing missing; it may still be busy). */
  available: boolean;
  /** What is missing, when not available. */
  problem: FieldProblem | null;
  readerName: string | null;
  waitSeconds: number;
  busy: boolean;
  /** The run going on, or the last one. */
  job: DeskJob | null;
}

export interface PersonalisationRequest {
  workerId: string;
  workerName: string;
  validFrom?: string;
  validTo?: string;
  by: Actor;
  /** Enrols the personalised badge (the site-data service, with the user's scope). */
  enrol: (input: ProvisionedBadgeInput) => Promise<{ badge: Badge; before: Badge | null }>;
}

export interface BadgeDeskOptions {
  /** The gateway's storage port, where personalised badges are enrolled. */
  store: SqlStore;
  keys?: BadgeKeyRing;
  /** Absent: no desk reader on this gateway. */
  settings?: DeskReaderSettings;
  logger?: Logger;
  now?: () => Date;
  /** Test seam: what runs the personalisation (default: on the PC/SC desk reader). */
  run?: (o: DeskEnrolOptions) => Promise<EnrolledBadge>;
  /** Test seam: whether nfc-pcsc can be loaded (default: it is tried once). */
  nfcPcscProblem?: () => Promise<string | null>;
}

const RETRY_TEXT = {
  'start-again': 'Start again when the badge is ready to be placed on the reader.',
  'present-again': 'Nothing is lost: present the badge again and start again; personalisation resumes where it stopped.',
  'enrol-again': 'The badge is personalised; only its enrolment failed: start again with the badge on the reader to enrol it (nothing is changed on the badge twice).',
} as const;

export class BadgeDesk {
  private running: DeskJob | null = null;
  private last: DeskJob | null = null;
  private abort: AbortController | null = null;
  private finished: Promise<void> = Promise.resolve();
  private readonly now: () => Date;

  constructor(private readonly o: BadgeDeskOptions) {
    this.now = o.now ?? (() => new Date());
  }

  private get waitSeconds(): number {
    return this.o.settings?.waitSeconds ?? 60;
  }

  /** What keeps a run from starting now, or null. */
  async problem(): Promise<FieldProblem | null> {
    const settings = this.o.settings;
    if (!settings) {
      return { field: 'deskReader', rule: 'desk-reader-not-configured', message: 'deskReader: no desk reader is configured on this gateway (badgeSecurity.deskReader in its config, docs/badges.md); personalise badges with `ciao admin badge provision` on a machine that has one' };
    }
    if ((this.o.keys ?? EMPTY_KEY_RING).versions.size === 0) {
      return { field: 'deskReader', rule: 'badge-keys-missing', message: "deskReader: the gateway holds no badge keys (badgeSecurity.keyFile in its config; create them with 'ciao admin badge keys init FILE'), so it cannot personalise a badge" };
    }
    const socket = settings.socketPath ?? PCSCD_DEFAULT_SOCKET;
    // Without pcscd, opening a PC/SC context only waits: its socket is asked first, as the terminal does.
    if (!(await pcscdListening(socket))) {
      return { field: 'deskReader', rule: 'pcscd-not-running', message: `deskReader: pcscd is not running on the gateway's machine (no listener on ${socket}); start it with \`systemctl start pcscd\`` };
    }
    const missing = await (this.o.nfcPcscProblem ?? deskNfcPcscProblem)();
    if (missing) return { field: 'deskReader', rule: 'nfc-pcsc-missing', message: `deskReader: ${missing}` };
    return null;
  }

  async status(): Promise<DeskStatus> {
    // While a run goes on, what it needed was there when it started (the console asks every half second).
    const problem = this.running ? null : await this.problem();
    return {
      configured: this.o.settings !== undefined,
      available: problem === null,
      problem,
      readerName: this.o.settings?.readerName ?? null,
      waitSeconds: this.waitSeconds,
      busy: this.running !== null,
      job: copy(this.running ?? this.last),
    };
  }

  /** Starts a run (answering at once, before any badge is there); refused while one runs or when something is missing. */
  async start(req: PersonalisationRequest): Promise<DeskJob> {
    const busy = this.running;
    if (busy) {
      throw conflict({
        field: 'deskReader',
        rule: 'desk-reader-busy',
        message: `deskReader: the desk reader is personalising a badge for ${busy.workerName} (started by ${busy.by.name} at ${busy.startedAt}); one badge at a time: wait until it is done`,
      });
    }
    // Taken before the checks below wait, so that two requests arriving together cannot both start.
    const job: DeskJob = {
      id: randomUUID(), workerId: req.workerId, workerName: req.workerName, by: { id: req.by.id, name: req.by.name },
      startedAt: toOffsetIso(this.now()), finishedAt: null, state: 'waiting-for-reader', readerNames: [],
      progress: { placed: null, keysFound: null, authenticated: false, keysChanged: [], sunMirroring: false, verifiedCounter: null, enrolled: false },
      steps: [], result: null, error: null,
    };
    this.running = job;
    try {
      const problem = await this.problem();
      if (problem) throw unavailable(problem);
    } catch (err) {
      this.running = null;
      throw err;
    }
    this.last = job;
    const abort = new AbortController();
    this.abort = abort;
    this.o.logger?.info({ job: job.id, workerId: job.workerId, by: job.by.name }, 'personalising a badge on the desk reader');
    this.finished = this.execute(job, req, abort.signal);
    return copy(job)!;
  }

  private async execute(job: DeskJob, req: PersonalisationRequest, signal: AbortSignal): Promise<void> {
    const settings = this.o.settings!;
    const run = this.o.run ?? provisionOnDeskReader;
    try {
      const r = await run({
        store: this.o.store,
        keys: this.o.keys ?? EMPTY_KEY_RING,
        worker: req.workerId,
        ...(req.validFrom ? { validFrom: req.validFrom } : {}),
        ...(req.validTo ? { validTo: req.validTo } : {}),
        ...(settings.readerName ? { readerName: settings.readerName } : {}),
        ...(settings.socketPath ? { socketPath: settings.socketPath } : {}),
        waitMs: this.waitSeconds * 1000,
        actor: req.by,
        enrol: req.enrol,
        signal,
        onReady: (names) => {
          job.readerNames = names;
          job.state = 'waiting-for-badge';
        },
        onPlaced: (card) => {
          job.progress.placed = card;
          job.state = 'personalising';
        },
        onStep: (line) => job.steps.push(line),
        onProgress: (p) => {
          switch (p.step) {
            case 'keys-found':
              job.progress.keysFound = p.keysFound.map((k, n) => (k === 'previous' ? `version ${p.versionsFound[n]}` : k));
              break;
            case 'authenticated':
              job.progress.authenticated = true;
              break;
            case 'key-changed':
              job.progress.keysChanged.push(p.key);
              break;
            case 'sun-on':
              job.progress.sunMirroring = true;
              break;
            case 'verified':
              job.progress.verifiedCounter = p.counter;
              break;
            case 'enrolled':
              job.progress.enrolled = true;
              break;
            default:
              break; // badge, ndef-written: the steps say them
          }
        },
      });
      const b = r.badge;
      job.result = { uid: b.uid, kind: b.kind, keyVersion: b.keyVersion, validFrom: b.validFrom, validTo: b.validTo, previousWorkerId: r.previousWorkerId, previousKeyVersion: r.previousKeyVersion, keysChanged: r.provisioning.keysChanged };
      job.state = 'done';
      this.o.logger?.info({ job: job.id, workerId: job.workerId, uid: b.uid, keyVersion: b.keyVersion }, 'badge personalised and enrolled');
    } catch (err) {
      const message = (err as Error).message;
      const next = job.progress.verifiedCounter !== null ? 'enrol-again' : job.progress.placed ? 'present-again' : 'start-again';
      job.error = { message, next, retry: RETRY_TEXT[next] };
      job.state = 'failed';
      this.o.logger?.warn({ job: job.id, workerId: job.workerId, err: message }, 'personalising a badge failed');
    } finally {
      job.finishedAt = toOffsetIso(this.now());
      if (this.running === job) this.running = null;
      this.abort = null;
    }
  }

  /** Resolves once the run going on (if any) has ended. */
  settled(): Promise<void> {
    return this.finished;
  }

  /** The gateway is stopping: a run waiting for a badge stops waiting (one already writing to a badge ends on its own). */
  async stop(): Promise<void> {
    this.abort?.abort(new Error('the gateway stopped'));
    await this.finished;
  }
}

function copy(job: DeskJob | null): DeskJob | null {
  return job === null ? null : (structuredClone(job) as DeskJob);
}
