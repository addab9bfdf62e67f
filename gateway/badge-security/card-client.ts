import { randomBytes } from 'node:crypto';
import { CardStatusError, SELECT_NDEF_APPLICATION, STATUS_ADDITIONAL_FRAME, STATUS_OK, nativeApdu, splitResponse, type CardTransport } from './apdu.ts';
import { decodeFileSettings, encodeFileSettings, type FileSettings } from './file-settings.ts';
import { AuthenticationError, SecureSession, authenticationChallengeAnswer, changeKeyData, completeAuthentication, type CommMode } from './secure-messaging.ts';

/**
 * The host side of an NTAG 424 DNA: native commands wrapped in ISO 7816-4 over a CardTransport, with the
 * EV2 secure messaging session that AuthenticateEV2First opens. Any error status ends the session (the card
 * drops its authentication too).
 */
const CMD = {
  GET_VERSION: 0x60,
  AUTHENTICATE_EV2_FIRST: 0x71,
  ADDITIONAL_FRAME: 0xaf,
  GET_CARD_UID: 0x51,
  CHANGE_KEY: 0xc4,
  GET_FILE_SETTINGS: 0xf5,
  CHANGE_FILE_SETTINGS: 0x5f,
  READ_DATA: 0xad,
  WRITE_DATA: 0x8d,
} as const;

export const FILE_NDEF = 0x02;

export interface CardVersion {
  vendorId: number;
  hwType: number;
  hwSubType: number;
  uid: Buffer;
  raw: Buffer;
}

function u24(n: number): Buffer {
  const b = Buffer.alloc(3);
  b.writeUIntLE(n, 0, 3);
  return b;
}

export class Ntag424Client {
  session: SecureSession | null = null;

  constructor(private readonly transport: CardTransport, private readonly random: (n: number) => Buffer = randomBytes) {}

  /** Sends one native command frame; returns its body and native status, or throws on an error status. */
  private async frame(name: string, ins: number, data?: Buffer): Promise<{ body: Buffer; status: number }> {
    const { body, sw } = splitResponse(await this.transport.transmit(nativeApdu(ins, data)));
    if (sw >> 8 !== 0x91 || ((sw & 0xff) !== STATUS_OK && (sw & 0xff) !== STATUS_ADDITIONAL_FRAME)) {
      this.session = null;
      throw new CardStatusError(name, sw);
    }
    return { body, status: sw & 0xff };
  }

  /** A command in a secure messaging mode: wraps, sends, checks the answer and moves the counter. */
  private async secure(name: string, ins: number, mode: CommMode, header: Buffer, data: Buffer): Promise<Buffer> {
    const session = this.session;
    if (!session) {
      if (mode !== 'plain') throw new Error(`${name}: needs an authenticated session`);
      const { body } = await this.frame(name, ins, Buffer.concat([header, data]));
      return body;
    }
    const { body, status } = await this.frame(name, ins, session.wrap(mode, ins, header, data));
    if (status !== STATUS_OK) throw new Error(`${name}: unexpected additional frame`);
    try {
      return session.unwrap(mode, status, body);
    } catch (err) {
      this.session = null;
      throw err;
    }
  }

  /** ISO SELECT of the NDEF application by DF name; ends any session. */
  async selectApplication(): Promise<void> {
    this.session = null;
    const { sw } = splitResponse(await this.transport.transmit(SELECT_NDEF_APPLICATION));
    if (sw !== 0x9000) throw new CardStatusError('select NDEF application', sw);
  }

  /** GetVersion (three frames, unauthenticated): hardware identity and the UID. */
  async getVersion(): Promise<CardVersion> {
    if (this.session) throw new Error('GetVersion: call it before authenticating');
    const first = await this.frame('GetVersion', CMD.GET_VERSION);
    const second = await this.frame('GetVersion', CMD.ADDITIONAL_FRAME);
    const third = await this.frame('GetVersion', CMD.ADDITIONAL_FRAME);
    if (first.status !== STATUS_ADDITIONAL_FRAME || second.status !== STATUS_ADDITIONAL_FRAME || third.status !== STATUS_OK || third.body.length < 7) {
      throw new Error('GetVersion: the card did not answer in three frames');
    }
    return { vendorId: first.body[0]!, hwType: first.body[1]!, hwSubType: first.body[2]!, uid: Buffer.from(third.body.subarray(0, 7)), raw: Buffer.concat([first.body, second.body, third.body]) };
  }

  /** AuthenticateEV2First with key `keyNo`; throws CardStatusError 91AE (isAuthenticationError) for a wrong key. */
  async authenticate(keyNo: number, key: Buffer): Promise<SecureSession> {
    this.session = null;
    const part1 = await this.frame('AuthenticateEV2First', CMD.AUTHENTICATE_EV2_FIRST, Buffer.from([keyNo, 0x00]));
    if (part1.status !== STATUS_ADDITIONAL_FRAME) throw new AuthenticationError('AuthenticateEV2First: the card did not send its challenge');
    const { part2, rndA, rndB } = authenticationChallengeAnswer(key, part1.body, this.random(16));
    const answer = await this.frame('AuthenticateEV2First', CMD.ADDITIONAL_FRAME, part2);
    this.session = completeAuthentication(key, keyNo, rndA, rndB, answer.body);
    return this.session;
  }

  /** Tries a key: true when the card accepts it (the session stays open), false for 91AE. */
  async tryAuthenticate(keyNo: number, key: Buffer): Promise<boolean> {
    try {
      await this.authenticate(keyNo, key);
      return true;
    } catch (err) {
      if (err instanceof CardStatusError && err.isAuthenticationError) return false;
      throw err;
    }
  }

  /** GetCardUID (CommMode.Full): the real UID, even when the card sends a random ID in anticollision. */
  async getCardUid(): Promise<Buffer> {
    return this.secure('GetCardUID', CMD.GET_CARD_UID, 'full', Buffer.alloc(0), Buffer.alloc(0));
  }

  /** ChangeKey (CommMode.Full). Changing the session's own key ends the session. */
  async changeKey(keyNo: number, newKey: Buffer, version: number, oldKey?: Buffer): Promise<void> {
    const session = this.session;
    if (!session) throw new Error('ChangeKey: needs an authenticated session');
    const data = changeKeyData({ keyNo, sessionKeyNo: session.keyNo, newKey, version, oldKey });
    if (keyNo !== session.keyNo) {
      await this.secure('ChangeKey', CMD.CHANGE_KEY, 'full', Buffer.from([keyNo]), data);
      return;
    }
    // The card answers 9100 without a MAC and forgets the session: the old key no longer exists.
    await this.frame('ChangeKey', CMD.CHANGE_KEY, session.wrap('full', CMD.CHANGE_KEY, Buffer.from([keyNo]), data));
    this.session = null;
  }

  /** GetFileSettings: plain before authentication, CommMode.MAC within a session. */
  async getFileSettings(fileNo: number): Promise<FileSettings> {
    return decodeFileSettings(await this.secure('GetFileSettings', CMD.GET_FILE_SETTINGS, this.session ? 'mac' : 'plain', Buffer.from([fileNo]), Buffer.alloc(0)));
  }

  /** ChangeFileSettings (CommMode.Full). */
  async changeFileSettings(fileNo: number, settings: Pick<FileSettings, 'commMode' | 'access' | 'sdm'>): Promise<void> {
    await this.secure('ChangeFileSettings', CMD.CHANGE_FILE_SETTINGS, 'full', Buffer.from([fileNo]), encodeFileSettings(settings));
  }

  /** ReadData in the file's communication mode (plain for the NDEF file). */
  async readData(fileNo: number, offset: number, length: number, mode: CommMode = 'plain'): Promise<Buffer> {
    return this.secure('ReadData', CMD.READ_DATA, mode, Buffer.concat([Buffer.from([fileNo]), u24(offset), u24(length)]), Buffer.alloc(0));
  }

  /** WriteData in the file's communication mode; one frame, so at most 248 bytes at a time here. */
  async writeData(fileNo: number, offset: number, data: Buffer, mode: CommMode = 'plain'): Promise<void> {
    const chunk = 128;
    for (let at = 0; at < data.length; at += chunk) {
      const part = data.subarray(at, at + chunk);
      await this.secure('WriteData', CMD.WRITE_DATA, mode, Buffer.concat([Buffer.from([fileNo]), u24(offset + at), u24(part.length)]), part);
    }
  }
}
