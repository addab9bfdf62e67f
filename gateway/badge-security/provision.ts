import type { CardTransport } from './apdu.ts';
import { FILE_NDEF, Ntag424Client } from './card-client.ts';
import { type BadgeKeys, KEY_APP_MASTER, KEY_SDM_FILE_READ, KEY_SDM_META_READ } from './diversify.ts';
import { ACCESS_FREE, ACCESS_NEVER, sameSettings, type FileSettings } from './file-settings.ts';
import { buildSunNdef, type SunNdefLayout } from './ndef.ts';
import { verifySun, type SunVerdict } from './sun.ts';

/**
 * Personalises a blank NTAG 424 DNA (factory keys, all zero) into a badge that signs every read:
 *   1. SELECT the NDEF application, GetVersion for the UID, derive the badge's keys from it;
 *   2. write the NDEF URL with the SUN placeholders while the file is still freely writable;
 *   3. find out, key by key, whether each key is already ours or still the factory key (an authentication
 *      attempt with each: the only way a card tells which key it holds);
 *   4. authenticate with key 0, check the UID with GetCardUID, change keys 1-4, turn on SUN mirroring
 *      (ChangeFileSettings), and change key 0 last, since that ends the session;
 *   5. read the file once as a terminal would and verify the SUN message with the new keys.
 * Every step checks the card's state before acting, so a badge pulled away at any point is finished by
 * running this again on it. A key that is neither ours, nor of an earlier key version, nor the factory key
 * stops everything: that badge was personalised by someone else and nothing is changed on it.
 *
 * Rotation: a badge personalised with an earlier key version (`previousKeys`) is re-personalised the same
 * way, each key changed from its old value instead of the factory one; key 0 still goes last, so a badge
 * taken away halfway has its key 0 old and the rest of the run can still authenticate.
 */
export interface ProvisionOptions {
  /** The key a blank badge ships with (all zero for NXP's). */
  factoryKey?: Buffer;
  /** The badge's five keys, from its UID (normally `uid => deriveBadgeKeys(master, uid)`). */
  keys: BadgeKeys | ((uid: Buffer) => BadgeKeys);
  /** The version byte stored with each new key (rotation: bump it with the master keys). */
  keyVersion?: number;
  /** The keys of earlier key versions the badge may still carry, newest first (rotation). */
  previousKeys?: Array<{ version: number; keys: BadgeKeys | ((uid: Buffer) => BadgeKeys) }>;
  ndef?: { baseUrl?: string; piccParam?: string; macParam?: string };
  /** Progress lines, for a command to print. */
  onStep?: (step: string) => void;
  /** The same progress as facts, for a screen to show (the console's personalisation). */
  onProgress?: (p: ProvisionProgress) => void;
  /** Test seam: the PCD's random numbers. */
  random?: (n: number) => Buffer;
}

/** A step of personalisation done, as a fact. */
export type ProvisionProgress =
  | { step: 'badge'; uid: string }
  | { step: 'keys-found'; keysFound: KeyState[]; versionsFound: number[] }
  | { step: 'authenticated'; uid: string }
  | { step: 'key-changed'; key: number }
  | { step: 'ndef-written' }
  | { step: 'sun-on' }
  | { step: 'verified'; counter: number };

/** What a key of the badge was: this version's, an earlier version's (`previous`), or the factory key. */
export type KeyState = 'ours' | 'previous' | 'factory';

export interface ProvisionResult {
  uid: string;
  /** What each key was when this run started. */
  keysFound: KeyState[];
  /** The key version each key had when this run started (0 for the factory key). */
  versionsFound: number[];
  /** Keys this run changed. */
  keysChanged: number[];
  ndefWritten: boolean;
  fileSettingsChanged: boolean;
  /** The check read: a SUN message verified with the new keys, and its counter (the next tap's must be higher). */
  check: SunVerdict;
  layout: SunNdefLayout;
}

export class ProvisioningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProvisioningError';
  }
}

/** The NDEF file settings of a personalised badge: read free, SUN on, everything else key 0. */
function badgeFileSettings(layout: SunNdefLayout): Pick<FileSettings, 'commMode' | 'access' | 'sdm'> {
  return {
    commMode: 'plain',
    access: { read: ACCESS_FREE, write: KEY_APP_MASTER, readWrite: KEY_APP_MASTER, change: KEY_APP_MASTER },
    sdm: {
      uidMirror: true,
      counterMirror: true,
      ascii: true,
      metaRead: KEY_SDM_META_READ,
      fileRead: KEY_SDM_FILE_READ,
      counterRetrieval: ACCESS_NEVER,
      piccDataOffset: layout.piccDataOffset,
      macInputOffset: layout.macOffset,
      macOffset: layout.macOffset,
    },
  };
}

export async function provisionBadge(transport: CardTransport, o: ProvisionOptions): Promise<ProvisionResult> {
  const step = o.onStep ?? (() => {});
  const progress = o.onProgress ?? (() => {});
  const factoryKey = o.factoryKey ?? Buffer.alloc(16);
  const version = o.keyVersion ?? 1;
  const card = new Ntag424Client(transport, o.random);

  await card.selectApplication();
  const info = await card.getVersion();
  if (info.vendorId !== 0x04 || info.hwType !== 0x04) {
    throw new ProvisioningError(`not an NXP NTAG (GetVersion vendor ${info.vendorId.toString(16)}, type ${info.hwType.toString(16)})`);
  }
  const uid = info.uid;
  const uidHex = uid.toString('hex').toUpperCase();
  step(`badge ${uidHex}`);
  progress({ step: 'badge', uid: uidHex });
  const keys = typeof o.keys === 'function' ? o.keys(uid) : o.keys;
  const layout = buildSunNdef(o.ndef);
  const wanted = badgeFileSettings(layout);

  const settings = await card.getFileSettings(FILE_NDEF);
  const settingsDone = sameSettings(settings, wanted);
  let ndefWritten = false;
  if (!settingsDone && settings.access.write === ACCESS_FREE && settings.access.read === ACCESS_FREE) {
    // Idempotent: the same bytes each run. Written before SUN is on, while the file is still free to write.
    await card.writeData(FILE_NDEF, 0, layout.file);
    ndefWritten = true;
    step('NDEF URL written');
    progress({ step: 'ndef-written' });
  }

  const previous = (o.previousKeys ?? []).filter((p) => p.version !== version).map((p) => ({ version: p.version, keys: typeof p.keys === 'function' ? p.keys(uid) : p.keys }));
  const keysFound: KeyState[] = [];
  const versionsFound: number[] = [];
  /** The value each key has on the card now: what authenticates it, and what ChangeKey must be told. */
  const oldKeys: Buffer[] = [];
  for (let n = 0; n < 5; n++) {
    const found = await findKey(card, n, keys[n]!, version, previous, factoryKey);
    if (!found) {
      throw new ProvisioningError(`key ${n} of badge ${uidHex} is neither this site's (any key version) nor the factory key: it was personalised elsewhere; nothing was changed`);
    }
    keysFound.push(found.state);
    versionsFound.push(found.version);
    oldKeys.push(found.key);
  }
  step(`keys found: ${keysFound.map((s, n) => `${n}=${s === 'previous' ? `version ${versionsFound[n]}` : s}`).join(' ')}`);
  progress({ step: 'keys-found', keysFound: [...keysFound], versionsFound: [...versionsFound] });

  await card.authenticate(KEY_APP_MASTER, oldKeys[0]!);
  const realUid = await card.getCardUid();
  if (!realUid.equals(uid)) throw new ProvisioningError(`GetCardUID says ${realUid.toString('hex').toUpperCase()} but GetVersion said ${uidHex}`);
  progress({ step: 'authenticated', uid: uidHex });

  const keysChanged: number[] = [];
  for (let n = 1; n < 5; n++) {
    if (keysFound[n] === 'ours') continue;
    await card.changeKey(n, keys[n]!, version, oldKeys[n]);
    keysChanged.push(n);
    step(`key ${n} changed`);
    progress({ step: 'key-changed', key: n });
  }
  if (!settingsDone) {
    if (!ndefWritten) {
      await card.writeData(FILE_NDEF, 0, layout.file, settings.commMode);
      ndefWritten = true;
      step('NDEF URL written');
      progress({ step: 'ndef-written' });
    }
    await card.changeFileSettings(FILE_NDEF, wanted);
    step('SUN mirroring on');
    progress({ step: 'sun-on' });
  }
  if (keysFound[0] !== 'ours') {
    await card.changeKey(KEY_APP_MASTER, keys[0], version);
    keysChanged.push(0);
    step('key 0 changed');
    progress({ step: 'key-changed', key: 0 });
  }

  // The check read: unauthenticated, as a terminal reads.
  await card.selectApplication();
  const file = await card.readData(FILE_NDEF, 0, layout.file.length);
  const picc = Buffer.from(file.subarray(layout.piccDataOffset, layout.piccDataOffset + 32).toString('ascii'), 'hex');
  const mac = Buffer.from(file.subarray(layout.macOffset, layout.macOffset + 16).toString('ascii'), 'hex');
  const check = verifySun({ picc, mac }, { metaReadKey: keys[KEY_SDM_META_READ], fileReadKey: (u) => (u.equals(uid) ? keys[KEY_SDM_FILE_READ] : undefined) }, uidHex);
  if (!check.ok) throw new ProvisioningError(`badge ${uidHex} is personalised but its SUN message does not verify (${check.why})`);
  step(`SUN message verified (read counter ${check.counter})`);
  progress({ step: 'verified', counter: check.counter });
  return { uid: uidHex, keysFound, versionsFound, keysChanged, ndefWritten, fileSettingsChanged: !settingsDone, check, layout };
}

/**
 * Which key sits in slot `keyNo`: ours first (a finished or resumed run), then earlier versions newest first,
 * then the factory key. An authentication attempt is the only way a card tells which key it holds.
 */
async function findKey(
  card: Ntag424Client,
  keyNo: number,
  ours: Buffer,
  version: number,
  previous: Array<{ version: number; keys: BadgeKeys }>,
  factoryKey: Buffer,
): Promise<{ state: KeyState; version: number; key: Buffer } | undefined> {
  if (await card.tryAuthenticate(keyNo, ours)) return { state: 'ours', version, key: ours };
  for (const p of previous) {
    const k = p.keys[keyNo]!;
    if (await card.tryAuthenticate(keyNo, k)) return { state: 'previous', version: p.version, key: k };
  }
  if (await card.tryAuthenticate(keyNo, factoryKey)) return { state: 'factory', version: 0, key: factoryKey };
  return undefined;
}
