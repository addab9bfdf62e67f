import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { CardApplet } from './ntag424/ntag424-card.ts';

/**
 * A virtual contactless card for the vsmartcard `vpcd` reader driver of pcscd. vpcd listens on TCP
 * (127.0.0.1:35963 by default); a card "is on the reader" while a client is connected to it.
 * Wire format, both ways: a 2-byte big-endian length, then the bytes. From vpcd, a 1-byte message is a
 * control code (0 power off, 1 power on, 2 reset, 4 get ATR: answered with the ATR); anything longer is a
 * command APDU, answered with a response APDU.
 * The card answers the PC/SC GET DATA pseudo-APDU `FF CA 00 00 00` with its UID and `90 00`, as a reader's
 * firmware does for a real ISO 14443 card, so the PC/SC stack above cannot tell it from a real one.
 * With an `applet` (the NTAG 424 DNA emulation, or a replay clone) every other APDU goes to it; without
 * one the card is a plain UID-only badge that knows no application.
 */
export const VPCD_DEFAULT_PORT = 35963;

/** MIFARE Classic 1K as a PC/SC v2 contactless reader reports it (PC/SC part 3 ATR, byte 5 = 0x4F). */
const ATR_MIFARE_CLASSIC_1K = Buffer.from('3B8F8001804F0CA000000306030001000000006A', 'hex');
/** An ISO 14443-4 (type A, e.g. DESFire) card with one historical byte. */
const ATR_ISO14443_4 = Buffer.from('3B8180018080', 'hex');

export type CardKind = 'iso14443-3' | 'iso14443-4';

export interface VirtualCardOptions {
  /** UID in hex: 4, 7 or 10 bytes. */
  uid: string;
  kind?: CardKind;
  host?: string;
  port?: number;
  /** Never answer the UID request: a card pulled away in the middle of a read. */
  silentOnGetUid?: boolean;
  /** What answers the APDUs other than GET UID (the chip's applications). */
  applet?: CardApplet;
  /** Go silent after this many APDUs: a card taken away in the middle of a longer exchange. */
  silentAfterApdus?: number;
}

export interface VirtualCardEvents {
  apdu: [command: Buffer, response: Buffer | null];
  control: [code: number];
  removed: [];
}

const CONTROL = { POWER_OFF: 0, POWER_ON: 1, RESET: 2, GET_ATR: 4 } as const;

export class VirtualCard extends EventEmitter<VirtualCardEvents> {
  readonly uid: Buffer;
  readonly atr: Buffer;
  private socket: Socket | null = null;
  private pending = Buffer.alloc(0);
  private apdusThisPresentation = 0;

  constructor(private readonly o: VirtualCardOptions) {
    super();
    if (!/^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})$/.test(o.uid)) throw new Error(`uid: must be 4, 7 or 10 bytes in hex, got ${JSON.stringify(o.uid)}`);
    this.uid = Buffer.from(o.uid, 'hex');
    this.atr = (o.kind ?? 'iso14443-3') === 'iso14443-3' ? ATR_MIFARE_CLASSIC_1K : ATR_ISO14443_4;
  }

  get present(): boolean {
    return this.socket !== null;
  }

  /** Puts the card on the reader: connects to vpcd. */
  async presentToReader(): Promise<void> {
    if (this.socket) return;
    const socket = connect({ host: this.o.host ?? '127.0.0.1', port: this.o.port ?? VPCD_DEFAULT_PORT });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
      this.emit('removed');
    });
    this.socket = socket;
    this.pending = Buffer.alloc(0);
    this.apdusThisPresentation = 0;
    this.o.applet?.reset();
  }

  /** Takes the card away: closes the connection. */
  async remove(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 500).unref();
    });
  }

  private onData(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 2) {
      const length = this.pending.readUInt16BE(0);
      if (this.pending.length < 2 + length) return;
      const message = this.pending.subarray(2, 2 + length);
      this.pending = this.pending.subarray(2 + length);
      this.handle(Buffer.from(message));
    }
  }

  private handle(message: Buffer): void {
    if (message.length === 1) {
      const code = message[0]!;
      this.emit('control', code);
      if (code === CONTROL.GET_ATR) this.send(this.atr);
      // Power on/off and reset need no answer; the chip forgets its selection and authentication.
      else this.o.applet?.reset();
      return;
    }
    const response = this.respond(message);
    this.emit('apdu', message, response);
    if (response) this.send(response);
  }

  /** The card's answer to a command APDU; null for no answer at all. */
  respond(apdu: Buffer): Buffer | null {
    this.apdusThisPresentation += 1;
    if (this.o.silentAfterApdus !== undefined && this.apdusThisPresentation > this.o.silentAfterApdus) return null;
    const [cla, ins, p1] = apdu;
    if (cla === 0xff && ins === 0xca) {
      if (p1 === 0x00) {
        if (this.o.silentOnGetUid) return null;
        return Buffer.concat([this.uid, Buffer.from([0x90, 0x00])]);
      }
      return Buffer.from([0x6a, 0x81]); // function not supported (ATS/historical bytes)
    }
    if (this.o.applet) return this.o.applet.respond(apdu);
    if (ins === 0xa4) return Buffer.from([0x6a, 0x82]); // SELECT: no such application
    return Buffer.from([0x6d, 0x00]); // instruction not supported
  }

  private send(body: Buffer): void {
    const socket = this.socket;
    if (!socket) return;
    const header = Buffer.alloc(2);
    header.writeUInt16BE(body.length, 0);
    socket.write(Buffer.concat([header, body]));
  }
}
