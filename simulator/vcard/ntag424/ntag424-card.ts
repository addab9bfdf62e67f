import { randomBytes } from 'node:crypto';
import { aesCbc, aesEcb, cmac, crc32, pad, sameBytes, shortMac, unpad, xorBytes } from './card-crypto.ts';
import { KEY_FREE, KEY_NEVER, saveState, type CardFile, type CardFileSettings, type Ntag424State } from './card-state.ts';

/**
 * A virtual NTAG 424 DNA: what the chip answers to the APDUs a PC/SC reader passes on (NT4H2421Gx):
 * ISO SELECT of the NDEF application D2760000850101 and of its files E103/E104/E105, ISO READ BINARY, and
 * the native commands wrapped in ISO 7816 (CLA 90h): GetVersion, AuthenticateEV2First, GetCardUID,
 * ChangeKey, GetFileSettings, ChangeFileSettings, ReadData, WriteData, with EV2 secure messaging.
 * With SDM on, the first unauthenticated read of the NDEF file after it is selected increments the read
 * counter and mirrors a fresh SUN message (encrypted PICCData and SDMMAC) into what is read.
 */
export interface CardApplet {
  /** The answer to one command APDU (data and status word). */
  respond(apdu: Buffer): Buffer;
  /** Field off/on or reset: the chip forgets its selection and authentication. */
  reset(): void;
}

export interface Ntag424Options {
  state: Ntag424State;
  /** Where to keep the state after each change (counter, keys, settings, data). */
  stateFile?: string;
  /** Test seam: the card's random numbers (RndB, TI, PICCData padding). */
  random?: (n: number) => Buffer;
}

const NDEF_APP = Buffer.from('D2760000850101', 'hex');
const SW_OK = Buffer.from([0x90, 0x00]);
const iso = (sw: number) => Buffer.from([sw >> 8, sw & 0xff]);
const native = (code: number, data: Buffer = Buffer.alloc(0)) => Buffer.concat([data, Buffer.from([0x91, code])]);

const ST = {
  OK: 0x00,
  ILLEGAL_COMMAND: 0x1c,
  INTEGRITY: 0x1e,
  NO_SUCH_KEY: 0x40,
  LENGTH: 0x7e,
  PERMISSION_DENIED: 0x9d,
  PARAMETER: 0x9e,
  AUTHENTICATION: 0xae,
  ADDITIONAL_FRAME: 0xaf,
  BOUNDARY: 0xbe,
  ABORTED: 0xca,
  FILE_NOT_FOUND: 0xf0,
} as const;

/** A native command failure: the card answers 91xx and drops its authentication. */
class Refusal extends Error {
  constructor(readonly code: number) {
    super(`91${code.toString(16)}`);
  }
}

interface Session {
  keyNo: number;
  ti: Buffer;
  enc: Buffer;
  mac: Buffer;
  ctr: number;
}

type Pending = { kind: 'version'; frame: 2 | 3 } | { kind: 'auth'; keyNo: number; rndB: Buffer };

export class VirtualNtag424 implements CardApplet {
  readonly state: Ntag424State;
  private readonly random: (n: number) => Buffer;
  private appSelected = false;
  private selectedFile: string | null = null;
  private session: Session | null = null;
  private pending: Pending | null = null;
  /** The NDEF file as mirrored at the first read since selection, so chunked reads see one message. */
  private sdmImage: Map<string, Buffer> = new Map();
  /** The last mirrored file content served (what a skimmer would capture). */
  lastServed: Buffer | null = null;

  constructor(private readonly o: Ntag424Options) {
    this.state = o.state;
    this.random = o.random ?? randomBytes;
  }

  get uid(): Buffer {
    return Buffer.from(this.state.uid, 'hex');
  }

  get readCounter(): number {
    return this.state.sdmReadCounter;
  }

  /**
   * Test seam: puts the chip in a session as a published example left it (the application selected), so
   * that a command of that example can be replayed without the commands that came before it.
   */
  restoreSession(s: { keyNo: number; ti: Buffer; enc: Buffer; mac: Buffer; ctr: number }): void {
    this.appSelected = true;
    this.pending = null;
    this.session = { ...s };
  }

  reset(): void {
    this.appSelected = false;
    this.selectedFile = null;
    this.session = null;
    this.pending = null;
    this.sdmImage.clear();
  }

  respond(apdu: Buffer): Buffer {
    if (apdu.length < 4) return iso(0x6700);
    const [cla, ins] = apdu;
    if (cla === 0x90) return this.nativeCommand(apdu);
    this.pending = null;
    if (cla !== 0x00) return iso(0x6e00);
    if (ins === 0xa4) return this.isoSelect(apdu);
    if (ins === 0xb0) return this.isoReadBinary(apdu);
    return iso(0x6d00);
  }

  // ---- ISO 7816-4 ----

  private isoSelect(apdu: Buffer): Buffer {
    const p1 = apdu[2]!;
    const lc = apdu[4] ?? 0;
    const data = apdu.subarray(5, 5 + lc);
    this.sdmImage.clear();
    if (p1 === 0x04) {
      if (!data.equals(NDEF_APP)) return iso(0x6a82);
      this.appSelected = true;
      this.selectedFile = null;
      this.session = null;
      return SW_OK;
    }
    if (p1 === 0x00 && this.appSelected && data.length === 2) {
      const id = data.readUInt16BE(0);
      const no = (Object.keys(this.state.files) as Array<keyof Ntag424State['files']>).find((k) => this.state.files[k].fileId === id);
      if (!no) return iso(0x6a82);
      this.selectedFile = no;
      return SW_OK;
    }
    return iso(0x6a82);
  }

  private isoReadBinary(apdu: Buffer): Buffer {
    if (!this.selectedFile) return iso(0x6986);
    if (apdu[2]! & 0x80) return iso(0x6b00);
    const offset = apdu.readUInt16BE(2);
    const le = apdu.length > 4 ? apdu[4]! || 256 : 256;
    const file = this.state.files[this.selectedFile as '1'];
    if (file.settings.read !== KEY_FREE && file.settings.readWrite !== KEY_FREE) return iso(0x6982);
    const content = this.readableContent(this.selectedFile, file);
    if (offset > content.length) return iso(0x6b00);
    return Buffer.concat([content.subarray(offset, offset + le), SW_OK]);
  }

  /** The file as an unauthenticated reader sees it: with the SUN message mirrored when SDM is on. */
  private readableContent(no: string, file: CardFile): Buffer {
    const plain = Buffer.from(file.data, 'hex');
    if (!file.settings.sdm || this.session) return plain;
    const cached = this.sdmImage.get(no);
    if (cached) return cached;
    const image = this.mirror(plain, file.settings.sdm);
    this.sdmImage.set(no, image);
    this.lastServed = image;
    return image;
  }

  private mirror(data: Buffer, sdm: NonNullable<CardFileSettings['sdm']>): Buffer {
    if (sdm.options & 0x40 || sdm.fileRead !== KEY_NEVER) {
      if (sdm.counterLimit !== undefined && this.state.sdmReadCounter >= sdm.counterLimit) return data;
      this.state.sdmReadCounter = (this.state.sdmReadCounter + 1) & 0xffffff;
      this.persist();
    }
    const image = Buffer.from(data);
    const uid = this.uid;
    const ctrLe = Buffer.alloc(3);
    ctrLe.writeUIntLE(this.state.sdmReadCounter, 0, 3);
    const ascii = (b: Buffer) => Buffer.from(b.toString('hex').toUpperCase(), 'latin1');
    if (sdm.metaRead === KEY_FREE) {
      if (sdm.uidOffset !== undefined) ascii(uid).copy(image, sdm.uidOffset);
      if (sdm.counterOffset !== undefined) ascii(Buffer.from([ctrLe[2]!, ctrLe[1]!, ctrLe[0]!])).copy(image, sdm.counterOffset);
    } else if (sdm.metaRead <= 4 && sdm.piccDataOffset !== undefined) {
      const tag = ((sdm.options & 0x80) ? 0x80 | uid.length : 0) | ((sdm.options & 0x40) ? 0x40 : 0);
      const plain = Buffer.concat([Buffer.from([tag]), sdm.options & 0x80 ? uid : Buffer.alloc(0), sdm.options & 0x40 ? ctrLe : Buffer.alloc(0)]);
      const block = Buffer.concat([plain, this.random(16 - plain.length)]);
      ascii(aesCbc('encrypt', this.key(sdm.metaRead), Buffer.alloc(16), block)).copy(image, sdm.piccDataOffset);
    }
    if (sdm.fileRead !== KEY_NEVER && sdm.macOffset !== undefined && sdm.macInputOffset !== undefined) {
      const sv2 = Buffer.concat([Buffer.from('3CC300010080', 'hex'), uid, ctrLe]);
      const sessionMacKey = cmac(this.key(sdm.fileRead), sv2);
      ascii(shortMac(sessionMacKey, image.subarray(sdm.macInputOffset, sdm.macOffset))).copy(image, sdm.macOffset);
    }
    return image;
  }

  // ---- native commands ----

  private nativeCommand(apdu: Buffer): Buffer {
    const ins = apdu[1]!;
    const lc = apdu.length > 5 ? apdu[4]! : 0;
    const data = apdu.subarray(5, 5 + lc);
    if (apdu[2] !== 0 || apdu[3] !== 0 || (apdu.length > 5 && apdu.length !== 5 + lc && apdu.length !== 6 + lc)) return native(ST.LENGTH);
    const pending = this.pending;
    this.pending = null;
    try {
      if (pending && ins !== 0xaf) throw new Refusal(ST.ABORTED);
      if (ins === 0xaf) {
        if (pending?.kind === 'version') return this.getVersion(pending.frame);
        if (pending?.kind === 'auth') return this.authenticatePart2(pending, data);
        throw new Refusal(ST.ILLEGAL_COMMAND);
      }
      switch (ins) {
        case 0x60:
          return this.getVersion(1);
        case 0x71:
          return this.authenticatePart1(data);
        case 0x51:
          return this.getCardUid(data);
        case 0xc4:
          return this.changeKey(data);
        case 0xf5:
          return this.getFileSettings(data);
        case 0x5f:
          return this.changeFileSettings(data);
        case 0xad:
          return this.readData(data);
        case 0x8d:
          return this.writeData(data);
        default:
          throw new Refusal(ST.ILLEGAL_COMMAND);
      }
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.session = null;
      this.pending = null;
      return native(err.code);
    }
  }

  private key(no: number): Buffer {
    return Buffer.from(this.state.keys[no]!, 'hex');
  }

  private persist(): void {
    if (this.o.stateFile) saveState(this.o.stateFile, this.state);
  }

  private file(no: number): CardFile {
    const f = this.state.files[String(no) as '1'];
    if (!f) throw new Refusal(ST.FILE_NOT_FOUND);
    return f;
  }

  private ctr(n: number): Buffer {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n);
    return b;
  }

  /** Checks a command's MAC under the session (CmdCtr as it stands). */
  private checkMac(s: Session, ins: number, covered: Buffer, mac: Buffer): void {
    const expected = shortMac(s.mac, Buffer.concat([Buffer.from([ins]), this.ctr(s.ctr), s.ti, covered]));
    if (!sameBytes(expected, mac)) throw new Refusal(ST.INTEGRITY);
  }

  private decryptCommand(s: Session, encrypted: Buffer): Buffer {
    if (encrypted.length === 0 || encrypted.length % 16 !== 0) throw new Refusal(ST.LENGTH);
    const iv = aesEcb(s.enc, Buffer.concat([Buffer.from([0xa5, 0x5a]), s.ti, this.ctr(s.ctr), Buffer.alloc(8)]));
    const plain = unpad(aesCbc('decrypt', s.enc, iv, encrypted));
    if (!plain) throw new Refusal(ST.INTEGRITY);
    return plain;
  }

  /** Ends a successful command under the session: the counter moves, the response carries a MAC. */
  private answer(s: Session, mode: 'mac' | 'full', data: Buffer = Buffer.alloc(0)): Buffer {
    s.ctr += 1;
    let body = data;
    if (mode === 'full' && data.length > 0) {
      const iv = aesEcb(s.enc, Buffer.concat([Buffer.from([0x5a, 0xa5]), s.ti, this.ctr(s.ctr), Buffer.alloc(8)]));
      body = aesCbc('encrypt', s.enc, iv, pad(data));
    }
    const mac = shortMac(s.mac, Buffer.concat([Buffer.from([ST.OK]), this.ctr(s.ctr), s.ti, body]));
    return native(ST.OK, Buffer.concat([body, mac]));
  }

  /** A plain answer; inside a session it still counts as a command/response pair. */
  private plainAnswer(data: Buffer = Buffer.alloc(0)): Buffer {
    if (this.session) this.session.ctr += 1;
    return native(ST.OK, data);
  }

  private needSession(keyNo?: number): Session {
    const s = this.session;
    if (!s) throw new Refusal(ST.PERMISSION_DENIED);
    if (keyNo !== undefined && s.keyNo !== keyNo) throw new Refusal(ST.PERMISSION_DENIED);
    return s;
  }

  private getVersion(frame: 1 | 2 | 3): Buffer {
    if (frame === 1) {
      this.pending = { kind: 'version', frame: 2 };
      return native(ST.ADDITIONAL_FRAME, Buffer.from('04040230001105', 'hex'));
    }
    if (frame === 2) {
      this.pending = { kind: 'version', frame: 3 };
      return native(ST.ADDITIONAL_FRAME, Buffer.from('04040201110005', 'hex'));
    }
    return this.plainAnswer(Buffer.concat([this.uid, Buffer.from('CD65935D40', 'hex'), Buffer.from([0x21, 0x24])]));
  }

  private authenticatePart1(data: Buffer): Buffer {
    this.session = null;
    if (!this.appSelected) throw new Refusal(ST.PERMISSION_DENIED);
    if (data.length < 2) throw new Refusal(ST.LENGTH);
    const keyNo = data[0]!;
    if (keyNo > 4) throw new Refusal(ST.NO_SUCH_KEY);
    const rndB = this.random(16);
    this.pending = { kind: 'auth', keyNo, rndB };
    return native(ST.ADDITIONAL_FRAME, aesCbc('encrypt', this.key(keyNo), Buffer.alloc(16), rndB));
  }

  private authenticatePart2(p: { keyNo: number; rndB: Buffer }, data: Buffer): Buffer {
    if (data.length !== 32) throw new Refusal(ST.LENGTH);
    const key = this.key(p.keyNo);
    const plain = aesCbc('decrypt', key, Buffer.alloc(16), data);
    const rndA = plain.subarray(0, 16);
    const rndBRotated = plain.subarray(16, 32);
    const expected = Buffer.concat([p.rndB.subarray(1), p.rndB.subarray(0, 1)]);
    if (!sameBytes(rndBRotated, expected)) throw new Refusal(ST.AUTHENTICATION);
    const ti = this.random(4);
    const rndARotated = Buffer.concat([rndA.subarray(1), rndA.subarray(0, 1)]);
    const response = aesCbc('encrypt', key, Buffer.alloc(16), Buffer.concat([ti, rndARotated, Buffer.alloc(12)]));
    // SV = label || 0001 0080 || RndA[15:14] || (RndA[13:8] xor RndB[15:10]) || RndB[9:0] || RndA[7:0], byte 15 first.
    const sv = (label: string) =>
      Buffer.concat([Buffer.from(`${label}00010080`, 'hex'), rndA.subarray(0, 2), xorBytes(rndA.subarray(2, 8), p.rndB.subarray(0, 6)), p.rndB.subarray(6), rndA.subarray(8)]);
    this.session = { keyNo: p.keyNo, ti, enc: cmac(key, sv('A55A')), mac: cmac(key, sv('5AA5')), ctr: 0 };
    this.sdmImage.clear();
    return native(ST.OK, response);
  }

  private getCardUid(data: Buffer): Buffer {
    const s = this.needSession();
    if (data.length !== 8) throw new Refusal(ST.LENGTH);
    this.checkMac(s, 0x51, Buffer.alloc(0), data);
    return this.answer(s, 'full', this.uid);
  }

  private changeKey(data: Buffer): Buffer {
    const s = this.needSession(0);
    if (data.length < 1 + 16 + 8) throw new Refusal(ST.LENGTH);
    const keyNo = data[0]!;
    if (keyNo > 4) throw new Refusal(ST.NO_SUCH_KEY);
    const encrypted = data.subarray(1, data.length - 8);
    this.checkMac(s, 0xc4, data.subarray(0, data.length - 8), data.subarray(data.length - 8));
    const plain = this.decryptCommand(s, encrypted);
    if (keyNo === s.keyNo) {
      if (plain.length !== 17) throw new Refusal(ST.LENGTH);
      this.state.keys[keyNo] = plain.subarray(0, 16).toString('hex').toUpperCase();
      this.state.keyVersions[keyNo] = plain[16]!;
      this.persist();
      // The session key is gone: the card answers without a MAC and forgets the session.
      this.session = null;
      return native(ST.OK);
    }
    if (plain.length !== 21) throw new Refusal(ST.LENGTH);
    const newKey = xorBytes(plain.subarray(0, 16), this.key(keyNo));
    if (!sameBytes(crc32(newKey), plain.subarray(17, 21))) throw new Refusal(ST.INTEGRITY);
    this.state.keys[keyNo] = newKey.toString('hex').toUpperCase();
    this.state.keyVersions[keyNo] = plain[16]!;
    this.persist();
    return this.answer(s, 'mac');
  }

  private encodeSettings(f: CardFile): Buffer {
    const st = f.settings;
    const size = Buffer.alloc(3);
    size.writeUIntLE(f.data.length / 2, 0, 3);
    const parts = [Buffer.from([0x00, (st.sdm ? 0x40 : 0) | st.commMode, (st.readWrite << 4) | st.change, (st.read << 4) | st.write]), size];
    const sdm = st.sdm;
    if (sdm) {
      parts.push(Buffer.from([sdm.options, 0xf0 | sdm.counterRetrieval, (sdm.metaRead << 4) | sdm.fileRead]));
      const offsets = [sdm.uidOffset, sdm.counterOffset, sdm.piccDataOffset, sdm.macInputOffset, sdm.encOffset, sdm.encLength, sdm.macOffset, sdm.counterLimit];
      for (const v of offsets) {
        if (v === undefined) continue;
        const b = Buffer.alloc(3);
        b.writeUIntLE(v, 0, 3);
        parts.push(b);
      }
    }
    return Buffer.concat(parts);
  }

  private getFileSettings(data: Buffer): Buffer {
    if (data.length < 1) throw new Refusal(ST.LENGTH);
    const f = this.file(data[0]!);
    const s = this.session;
    if (!s) return native(ST.OK, this.encodeSettings(f));
    if (data.length !== 9) throw new Refusal(ST.LENGTH);
    this.checkMac(s, 0xf5, data.subarray(0, 1), data.subarray(1));
    return this.answer(s, 'mac', this.encodeSettings(f));
  }

  /** Parses the CmdData of ChangeFileSettings (NT4H2421Gx §10.7.1); null when it does not add up. */
  private parseSettings(d: Buffer, size: number): CardFileSettings | null {
    if (d.length < 3) return null;
    const settings: CardFileSettings = { commMode: d[0]! & 0x03, readWrite: d[1]! >> 4, change: d[1]! & 0xf, read: d[2]! >> 4, write: d[2]! & 0xf };
    if (settings.commMode === 2) return null;
    if (!(d[0]! & 0x40)) return d.length === 3 ? settings : null;
    if (d.length < 6) return null;
    const options = d[3]!;
    const sdm: NonNullable<CardFileSettings['sdm']> = { options, counterRetrieval: d[4]! & 0xf, metaRead: d[5]! >> 4, fileRead: d[5]! & 0xf };
    let at = 6;
    const next = (): number | null => {
      if (at + 3 > d.length) return null;
      const v = d.readUIntLE(at, 3);
      at += 3;
      return v;
    };
    const take = (name: 'uidOffset' | 'counterOffset' | 'piccDataOffset' | 'macInputOffset' | 'encOffset' | 'encLength' | 'macOffset' | 'counterLimit'): boolean => {
      const v = next();
      if (v === null) return false;
      sdm[name] = v;
      return true;
    };
    if (sdm.metaRead === KEY_FREE) {
      if (options & 0x80 && !take('uidOffset')) return null;
      if (options & 0x40 && !take('counterOffset')) return null;
    } else if (sdm.metaRead <= 4) {
      if (!take('piccDataOffset')) return null;
      if ((sdm.piccDataOffset ?? 0) + 32 > size) return null;
    }
    if (sdm.fileRead !== KEY_NEVER) {
      if (!take('macInputOffset')) return null;
      if (options & 0x10 && (!take('encOffset') || !take('encLength'))) return null;
      if (!take('macOffset')) return null;
      if ((sdm.macOffset ?? 0) + 16 > size || (sdm.macInputOffset ?? 0) > (sdm.macOffset ?? 0)) return null;
    }
    if (options & 0x20 && !take('counterLimit')) return null;
    if (at !== d.length) return null;
    settings.sdm = sdm;
    return settings;
  }

  private changeFileSettings(data: Buffer): Buffer {
    if (data.length < 1) throw new Refusal(ST.LENGTH);
    const f = this.file(data[0]!);
    const s = this.needSession(f.settings.change === KEY_FREE ? undefined : f.settings.change);
    if (data.length < 1 + 16 + 8) throw new Refusal(ST.LENGTH);
    this.checkMac(s, 0x5f, data.subarray(0, data.length - 8), data.subarray(data.length - 8));
    const settings = this.parseSettings(this.decryptCommand(s, data.subarray(1, data.length - 8)), f.data.length / 2);
    if (!settings) throw new Refusal(ST.PARAMETER);
    f.settings = settings;
    this.sdmImage.clear();
    this.persist();
    return this.answer(s, 'mac');
  }

  /** Which way a file access goes: free (plain, no session needed) or under the session's key. */
  private access(f: CardFile, right: number, alsoRight: number): 'free' | Session {
    if (right === KEY_FREE || alsoRight === KEY_FREE) return 'free';
    const s = this.session;
    if (!s || (s.keyNo !== right && s.keyNo !== alsoRight)) throw new Refusal(ST.PERMISSION_DENIED);
    return s;
  }

  private fileRange(header: Buffer, f: CardFile): { offset: number; length: number } {
    const size = f.data.length / 2;
    const offset = header.readUIntLE(1, 3);
    const requested = header.readUIntLE(4, 3);
    const length = requested === 0 ? size - offset : requested;
    if (offset + length > size) throw new Refusal(ST.BOUNDARY);
    return { offset, length };
  }

  private readData(data: Buffer): Buffer {
    const f = this.file(data[0] ?? 0xff);
    const how = this.access(f, f.settings.read, f.settings.readWrite);
    if (how === 'free' || f.settings.commMode === 0) {
      if (data.length !== 7) throw new Refusal(ST.LENGTH);
      const { offset, length } = this.fileRange(data, f);
      const content = this.readableContent(String(data[0]), f);
      return this.plainAnswer(content.subarray(offset, offset + length));
    }
    if (data.length !== 15) throw new Refusal(ST.LENGTH);
    this.checkMac(how, 0xad, data.subarray(0, 7), data.subarray(7));
    const { offset, length } = this.fileRange(data, f);
    return this.answer(how, f.settings.commMode === 3 ? 'full' : 'mac', Buffer.from(f.data, 'hex').subarray(offset, offset + length));
  }

  private writeData(data: Buffer): Buffer {
    if (data.length < 7) throw new Refusal(ST.LENGTH);
    const f = this.file(data[0]!);
    const how = this.access(f, f.settings.write, f.settings.readWrite);
    let payload: Buffer;
    if (how === 'free' || f.settings.commMode === 0) payload = data.subarray(7);
    else {
      this.checkMac(how, 0x8d, data.subarray(0, data.length - 8), data.subarray(data.length - 8));
      payload = f.settings.commMode === 3 ? this.decryptCommand(how, data.subarray(7, data.length - 8)) : data.subarray(7, data.length - 8);
    }
    const { offset, length } = this.fileRange(data, f);
    if (payload.length !== length) throw new Refusal(ST.LENGTH);
    const content = Buffer.from(f.data, 'hex');
    payload.copy(content, offset);
    f.data = content.toString('hex').toUpperCase();
    this.sdmImage.clear();
    this.persist();
    return how === 'free' || f.settings.commMode === 0 ? this.plainAnswer() : this.answer(how, 'mac');
  }
}

/**
 * A replay clone: something that answers like a Type 4 tag (a phone in card emulation, a programmable
 * tag) with a SUN message captured from a genuine badge, always the same one. It knows no native command.
 */
export class ReplayCard implements CardApplet {
  private appSelected = false;
  private fileSelected = false;

  constructor(private readonly ndefFile: Buffer) {}

  reset(): void {
    this.appSelected = false;
    this.fileSelected = false;
  }

  respond(apdu: Buffer): Buffer {
    const [cla, ins, p1] = apdu;
    if (cla === 0x00 && ins === 0xa4) {
      const data = apdu.subarray(5, 5 + (apdu[4] ?? 0));
      if (p1 === 0x04 && data.equals(NDEF_APP)) {
        this.appSelected = true;
        return SW_OK;
      }
      if (p1 === 0x00 && this.appSelected && data.equals(Buffer.from('E104', 'hex'))) {
        this.fileSelected = true;
        return SW_OK;
      }
      return iso(0x6a82);
    }
    if (cla === 0x00 && ins === 0xb0 && this.fileSelected) {
      const offset = apdu.readUInt16BE(2);
      const le = apdu[4] || 256;
      return Buffer.concat([this.ndefFile.subarray(offset, offset + le), SW_OK]);
    }
    return cla === 0x90 ? native(ST.ILLEGAL_COMMAND) : iso(0x6d00);
  }
}
