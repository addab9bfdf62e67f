import type { SqlStore } from '../store/sql-store.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { findWorker } from '../site-data/workers.ts';
import { getBadge, provisionedBadgeRecord, saveSecureBadge, type Badge, type ProvisionedBadgeInput } from '../site-data/badges.ts';
import { parseDay, problem, throwIfAny } from '../site-data/input.ts';
import { recordChange, SYSTEM_ACTOR, type Actor } from '../site-data/audit.ts';
import { HeldTapReleaser } from '../site-data/held-tap-release.ts';
import type { CardTransport } from './apdu.ts';
import { DeskReader } from './desk-reader.ts';
import { deriveBadgeKeys } from './diversify.ts';
import { versionsByPreference, type BadgeKeyRing } from './key-ring.ts';
import { provisionBadge, type ProvisionProgress, type ProvisionResult } from './provision.ts';

export type { ProvisionedBadgeInput };

/**
 * Personalising a badge and enrolling it, as one operation for `ciao admin badge provision` and the site
 * manager's console: the badge gets keys derived from the current key version (from the factory keys, or
 * from an earlier version: rotation), then the badge record says `secure` with that version, bound to the
 * worker. The record is written only once the badge's first SUN message verified, so a record never claims
 * keys the badge does not have; a run cut short anywhere is finished by running it again on the same badge.
 */
export interface EnrolOptions {
  /** Where the worker is looked up and the badge enrolled: the gateway's storage port. */
  store: SqlStore;
  keys: BadgeKeyRing;
  /** Worker id, NISS/BIS or Limosa id. May be left out to re-personalise a badge already enrolled (rotation). */
  worker?: string;
  /** First and last valid day (YYYY-MM-DD); by default today and open-ended, or what an enrolled badge has. */
  validFrom?: string;
  validTo?: string;
  onStep?: (step: string) => void;
  /** The same steps as facts (the console's progress), and `enrolled` once the record is written. */
  onProgress?: (p: ProvisionProgress | { step: 'enrolled'; uid: string; keyVersion: number }) => void;
  /** Who provisions, for the audit trail (the console passes its user, the command `cli:<system user>`). */
  actor?: Actor;
  /**
   * How the personalised badge is enrolled (default: `enrolPersonalisedBadge` as `actor`). The console's
   * goes through the site-data service, which checks the user's scope and tells the running gateway.
   */
  enrol?: (input: ProvisionedBadgeInput) => Promise<{ badge: Badge; before: Badge | null }>;
  /** Test seam: the PCD's random numbers. */
  random?: (n: number) => Buffer;
}

export interface EnrolledBadge {
  badge: Badge;
  /** The worker the badge was bound to before, when this run moved it to another one. */
  previousWorkerId: string | null;
  /** The key version the badge had before (0: blank), when it changed. */
  previousKeyVersion: number | null;
  provisioning: ProvisionResult;
}

/** Checks everything that does not need the card, so a bad command changes nothing on it. */
async function checkInput(o: EnrolOptions): Promise<{ workerId?: string; validFrom?: string; validTo?: string }> {
  const problems: FieldProblem[] = [];
  if (o.keys.versions.size === 0) {
    problems.push(problem('keys', 'required', "no badge keys: name the key file in the gateway config (badgeSecurity.keyFile) or with --keys; create one with 'ciao admin badge keys init FILE'"));
  }
  let workerId: string | undefined;
  if (o.worker !== undefined) {
    if (!o.worker.trim()) problems.push(problem('worker', 'required', 'is required (worker id, NISS/BIS or Limosa id)'));
    else {
      workerId = (await findWorker(o.store, o.worker.trim()))?.id;
      if (!workerId) problems.push(problem('worker', 'exists', 'no worker with this id, NISS/BIS or Limosa id'));
    }
  }
  const validFrom = parseDay(o.validFrom, 'from', problems);
  const validTo = parseDay(o.validTo, 'to', problems);
  if (validFrom && validTo && validTo < validFrom) problems.push(problem('to', 'order', 'must not be before from'));
  throwIfAny(problems);
  return { workerId, validFrom, validTo };
}

/** Personalises the badge on `transport` and enrols it (see above). */
export async function provisionAndEnrol(transport: CardTransport, o: EnrolOptions): Promise<EnrolledBadge> {
  const input = await checkInput(o);
  const current = o.keys.current;
  const master = o.keys.versions.get(current)!;
  const previousKeys = versionsByPreference(o.keys, current)
    .filter((v) => v !== current)
    .map((v) => ({ version: v, keys: (uid: Buffer) => deriveBadgeKeys(o.keys.versions.get(v)!, uid) }));
  const provisioning = await provisionBadge(transport, {
    keys: (uid) => deriveBadgeKeys(master, uid),
    keyVersion: current,
    previousKeys,
    ...(o.onStep ? { onStep: o.onStep } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.random ? { random: o.random } : {}),
  });
  const uid = provisioning.uid;

  const enrolInput = { uid, keyVersion: current, ...input };
  const enrolled = o.enrol ? await o.enrol(enrolInput) : await enrolPersonalisedBadge(o.store, enrolInput, o.actor ?? SYSTEM_ACTOR);
  o.onProgress?.({ step: 'enrolled', uid, keyVersion: current });
  const oldVersions = provisioning.versionsFound.filter((v) => v !== 0 && v !== current);
  const existing = enrolled.before;
  const before = existing?.kind === 'secure' && existing.keyVersion !== current ? existing.keyVersion : oldVersions.length ? Math.max(...oldVersions) : null;
  return { badge: enrolled.badge, previousWorkerId: existing && existing.workerId !== enrolled.badge.workerId ? existing.workerId : null, previousKeyVersion: before, provisioning };
}

/**
 * The record of a badge whose personalisation verified: `secure`, its key version, bound to the worker, in
 * the audit trail. Taps the badge made while it was unknown go through the badge check of the running
 * gateway (gateway/site-data/held-tap-release.ts), never released blind.
 */
export async function enrolPersonalisedBadge(store: SqlStore, input: ProvisionedBadgeInput, actor: Actor, now = new Date()): Promise<{ badge: Badge; before: Badge | null }> {
  // One transaction of the storage port: the record, its audit entry and the release of its held taps.
  return store.transaction(async (tx) => {
    const existing = (await getBadge(tx, input.uid)) ?? null;
    const badge = await saveSecureBadge(tx, provisionedBadgeRecord(existing, input, now));
    const auditId = await recordChange(tx, { actor, action: 'provision', entity: 'badge', entityId: input.uid, before: existing, after: badge });
    await new HeldTapReleaser().release(tx, { entity: 'badge', before: existing, after: badge }, { auditId, actor, at: now });
    return { badge, before: existing };
  });
}

export interface DeskEnrolOptions extends EnrolOptions {
  /** Only a desk reader whose name contains this (several readers on one desk). */
  readerName?: string;
  /** pcscd's socket (default /run/pcscd/pcscd.comm). */
  socketPath?: string;
  /** How long to wait for a badge on the reader. */
  waitMs?: number;
  /** A badge that does not answer within this is taken as removed. */
  transmitTimeoutMs?: number;
  /** Told once the reader is ready, before the wait for a badge. */
  onReady?: (readerNames: string[]) => void;
  /** Told when a badge is on the reader, before anything is done to it. */
  onPlaced?: (card: { readerName: string; uid: string }) => void;
  /** Aborting stops the wait for a badge (and the desk reader): the gateway is stopping. */
  signal?: AbortSignal;
}

/**
 * The whole operation on a desk reader over PC/SC: wait for a badge, personalise it, enrol it, release the
 * reader. What the console's "provision a badge" action calls.
 */
export async function provisionOnDeskReader(o: DeskEnrolOptions): Promise<EnrolledBadge> {
  await checkInput(o);
  const desk = new DeskReader({ ...(o.socketPath ? { socketPath: o.socketPath } : {}), ...(o.readerName ? { readerName: o.readerName } : {}), transmitTimeoutMs: o.transmitTimeoutMs ?? 3000 });
  try {
    o.signal?.throwIfAborted();
    await desk.start();
    const waitMs = o.waitMs ?? 60_000;
    const card = desk.waitForCard(waitMs, o.signal);
    // Give the reader a moment to attach; with none, say so instead of waiting for a badge that cannot come.
    const deadline = Date.now() + Math.min(waitMs, 5000);
    while (desk.readerNames.length === 0 && Date.now() < deadline && !o.signal?.aborted) await new Promise((r) => setTimeout(r, 50));
    o.signal?.throwIfAborted();
    if (desk.readerNames.length === 0) {
      card.catch(() => undefined);
      throw new Error(o.readerName ? `no contactless reader whose name contains "${o.readerName}" is attached to pcscd` : 'no contactless reader is attached to pcscd');
    }
    o.onReady?.(desk.readerNames);
    const presented = await card;
    o.onStep?.(`badge on ${presented.readerName}`);
    o.onPlaced?.({ readerName: presented.readerName, uid: presented.uid });
    return await provisionAndEnrol(presented.transport, o);
  } finally {
    await desk.stop();
  }
}
