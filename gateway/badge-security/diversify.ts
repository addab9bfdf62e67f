import { BLOCK, ZERO_IV, cbcEncrypt, xor } from './aes.ts';
import { cmacSubkeys } from './cmac.ts';

/**
 * NXP AN10922 AES-128 key diversification: a per-badge key from a master key and the badge's UID, so that a
 * key read out of one badge (or a leaked terminal) says nothing about any other badge.
 *   D  = 01h || M, with M = UID || AID || SystemIdentifier (1 to 31 bytes)
 *   D' = D padded to 32 bytes (80h 00h...), its last block XORed with CMAC subkey K2 (K1 when D is 32 bytes)
 *   diversified key = last block of AES-CBC(master, IV 0, D'), i.e. a CMAC computed over two blocks always.
 */
const AES128_DIV_CONSTANT = 0x01;

export function diversifyAes128(masterKey: Buffer, input: Buffer): Buffer {
  if (input.length < 1 || input.length > 31) throw new RangeError(`diversification input: must be 1 to 31 bytes, got ${input.length}`);
  const { k1, k2 } = cmacSubkeys(masterKey);
  const d = Buffer.concat([Buffer.from([AES128_DIV_CONSTANT]), input]);
  const padded = Buffer.alloc(2 * BLOCK);
  d.copy(padded);
  const complete = d.length === 2 * BLOCK;
  if (!complete) padded[d.length] = 0x80;
  xor(padded.subarray(BLOCK), complete ? k1 : k2).copy(padded, BLOCK);
  return cbcEncrypt(masterKey, ZERO_IV, padded).subarray(BLOCK);
}

/**
 * The application identifier and system identifier that complete the diversification input. The NTAG 424
 * DNA has one application (addressed by its ISO DF name), so the AID is a fixed value of ours; the system
 * identifier names the product and the key's slot, so that two slots never share a key.
 */
const DIVERSIFICATION_AID = Buffer.from('C1A0B1', 'hex');
const SYSTEM_IDENTIFIER = 'ciao-badge';

function diversificationInput(uid: Buffer | null, keyNo: number, opts: { aid?: Buffer; systemIdentifier?: string } = {}): Buffer {
  const aid = opts.aid ?? DIVERSIFICATION_AID;
  if (aid.length !== 3) throw new RangeError(`aid: must be 3 bytes, got ${aid.length}`);
  const system = Buffer.from(`${opts.systemIdentifier ?? SYSTEM_IDENTIFIER}/${keyNo}`, 'ascii');
  const input = Buffer.concat([uid ?? Buffer.alloc(0), aid, system]);
  if (input.length > 31) throw new RangeError(`diversification input: UID + AID + system identifier must be at most 31 bytes, got ${input.length}`);
  return input;
}

/** Master keys a site holds (16 bytes each); the badge's own keys are derived from them. */
export interface BadgeMasterKeys {
  /** For key 0 (application master key: changes keys and settings) and the unused keys 3 and 4. */
  application: Buffer;
  /** For key 1, the SDM meta-read key that encrypts the PICCData: the same on every badge, see below. */
  sdmMetaRead: Buffer;
  /** For key 2, the SDM file-read key whose session key signs each SUN message. */
  sdmFileRead: Buffer;
}

/** The five application keys of one badge, key number = index. */
export type BadgeKeys = [Buffer, Buffer, Buffer, Buffer, Buffer];

/** Key numbers in the badge's SUN configuration. */
export const KEY_APP_MASTER = 0;
export const KEY_SDM_META_READ = 1;
export const KEY_SDM_FILE_READ = 2;

/**
 * The keys one badge gets. The meta-read key cannot depend on the UID: the UID is inside the PICCData it
 * decrypts, so a verifier must be able to decrypt before it knows which badge it holds. It is still derived
 * (with no UID in the input) so that the master key itself never sits on a badge. Every other key is
 * diversified by UID.
 */
export function deriveBadgeKeys(master: BadgeMasterKeys, uid: Buffer): BadgeKeys {
  if (uid.length !== 7) throw new RangeError(`uid: must be 7 bytes, got ${uid.length}`);
  return [
    diversifyAes128(master.application, diversificationInput(uid, 0)),
    deriveMetaReadKey(master),
    diversifyAes128(master.sdmFileRead, diversificationInput(uid, 2)),
    diversifyAes128(master.application, diversificationInput(uid, 3)),
    diversifyAes128(master.application, diversificationInput(uid, 4)),
  ];
}

export function deriveMetaReadKey(master: Pick<BadgeMasterKeys, 'sdmMetaRead'>): Buffer {
  return diversifyAes128(master.sdmMetaRead, diversificationInput(null, 1));
}

export function deriveFileReadKey(master: Pick<BadgeMasterKeys, 'sdmFileRead'>, uid: Buffer): Buffer {
  return diversifyAes128(master.sdmFileRead, diversificationInput(uid, 2));
}
