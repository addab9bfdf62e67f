import { EventEmitter } from 'node:events';
import type { Logger } from '../../shared/logging.ts';
import { pcscdListening } from '../../shared/pcscd.ts';
import type { TapSun } from '../../shared/mqtt/payloads.ts';
import type { PcscConfig } from '../config.ts';
import type { BadgeReader } from '../core/ports.ts';
import { readSunMessage } from './sun-message.ts';
import { withTimeout } from '../../shared/with-timeout.ts';
import { IsolatedNfc, type IsolatedNfcOptions } from '../../shared/pcsc/isolated-nfc.ts';
import { loadNfcPcsc as loadModule, type NfcModule } from '../../shared/pcsc/nfc-pcsc-module.ts';

/**
 * Badge reader through PC/SC (pcscd) with nfc-pcsc: any CCID contactless reader (ACR122U, ACR1252U,
 * Identiv, ...), ISO 14443-3 (MIFARE Classic/Ultralight) and ISO 14443-4 (DESFire, ...) cards alike: the
 * UID is read with the PC/SC GET DATA command `FF CA 00 00 00`, with nfc-pcsc's automatic processing off.
 * On ISO 14443-4 cards it then reads the signed (SUN) message of an NTAG 424 DNA badge (sun-message.ts);
 * a card without one is a plain badge, and a card that stops answering before the read is complete is a
 * `misread` (the worker taps again), never a tap without its message.
 *
 * nfc-pcsc runs in a child process (shared/pcsc/isolated-nfc.ts): its constructor can block its thread for
 * ever when pcscd goes away while it opens, and that must never freeze the terminal. The context is opened
 * once pcscd's socket accepts a connection; until then the adapter reports a clear error and probes again
 * every `retrySeconds`. When pcscd goes away (or the child is blocked and killed) the PC/SC context is
 * dropped and the wait starts over.
 */
interface NfcInstance extends EventEmitter {
  close(): void;
}
interface NfcReader extends EventEmitter {
  name: string;
  autoProcessing: boolean;
  transmit(data: Buffer, responseMaxLength: number): Promise<Buffer>;
  led?(led: number, blinking: number[]): Promise<unknown>;
  setBuzzerOutput?(enabled: boolean): Promise<unknown>;
  /** The pcsclite reader underneath: its native status watcher keeps the process alive until closed. */
  reader?: { close?(): void };
}

const NFC_PCSC_MISSING =
  'the PC/SC reader needs the optional dependency nfc-pcsc (and libpcsclite): install it with `npm install nfc-pcsc` on the terminal, or use "reader": "simulated"';

const GET_UID = Buffer.from([0xff, 0xca, 0x00, 0x00, 0x00]);

/** nfc-pcsc, loaded here only to say at once when it is missing (see shared/pcsc/nfc-pcsc-module.ts). */
const loadNfcPcsc = (): Promise<NfcModule> => loadModule(NFC_PCSC_MISSING);

export class PcscReader extends EventEmitter implements BadgeReader {
  private nfc: NfcInstance | null = null;
  private readonly readers = new Map<string, NfcReader>();
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = true;
  private waitingReported = false;

  private readonly config: PcscConfig;

  /** `sun` defaults to reading SUN messages with the `picc_data=` and `cmac=` prefixes. */
  constructor(
    config: Omit<PcscConfig, 'sun'> & { sun?: PcscConfig['sun'] },
    private readonly logger: Logger,
    /** How long a PC/SC context may take to open before its process is deemed blocked (IsolatedNfc's default). */
    private readonly isolation: Pick<IsolatedNfcOptions, 'openTimeoutMs'> = {},
  ) {
    super();
    this.config = { ...config, sun: config.sun ?? { enabled: true, piccPrefix: 'picc_data=', macPrefix: 'cmac=' } };
  }

  /** Names of the readers currently attached. */
  get readerNames(): string[] {
    return [...this.readers.keys()];
  }

  get contextOpen(): boolean {
    return this.nfc !== null;
  }

  async start(): Promise<void> {
    // Loaded here only to say at once, with the reason, when nfc-pcsc or libpcsclite is missing.
    await loadNfcPcsc();
    this.stopped = false;
    void this.tryOpen();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.closeContext('stopped');
  }

  private async tryOpen(): Promise<void> {
    this.retryTimer = null;
    if (this.stopped || this.nfc) return;
    if (!(await pcscdListening(this.config.socketPath))) {
      if (!this.waitingReported) {
        this.waitingReported = true;
        this.emit('error', new Error(`pcscd is not running (no listener on ${this.config.socketPath}); start it with \`systemctl start pcscd\`; retrying every ${this.config.retrySeconds}s`));
      }
      this.scheduleRetry();
      return;
    }
    if (this.stopped || this.nfc) return;
    this.waitingReported = false;
    try {
      const nfc = new IsolatedNfc({ ...this.isolation, socketPath: this.config.socketPath });
      this.nfc = nfc;
      nfc.on('reader', (reader: NfcReader) => this.onReader(nfc, reader));
      nfc.on('error', (err: Error) => {
        // The PC/SC context is gone (pcscd stopped or crashed): drop it and wait for the daemon again.
        this.emit('error', new Error(`PC/SC error: ${err.message}`));
        if (this.nfc === nfc) {
          this.closeContext('pcscd lost');
          this.scheduleRetry();
        }
      });
      this.logger.info({ socket: this.config.socketPath }, 'PC/SC context open; waiting for readers');
    } catch (err) {
      this.emit('error', new Error(`cannot open a PC/SC context: ${(err as Error).message}`));
      this.nfc = null;
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => void this.tryOpen(), this.config.retrySeconds * 1000);
    this.retryTimer.unref();
  }

  private closeContext(reason: string): void {
    const nfc = this.nfc;
    this.nfc = null;
    // Closing the context does not close its readers, and each open reader holds the event loop.
    for (const reader of this.readers.values()) {
      try {
        reader.reader?.close?.();
      } catch (err) {
        this.logger.debug({ err, reason }, 'closing a PC/SC reader failed');
      }
    }
    for (const name of [...this.readers.keys()]) this.detach(name);
    if (nfc) {
      nfc.removeAllListeners();
      nfc.on('error', () => {});
      try {
        nfc.close();
      } catch (err) {
        this.logger.debug({ err, reason }, 'closing the PC/SC context failed');
      }
    }
  }

  private detach(name: string): void {
    const reader = this.readers.get(name);
    if (!reader) return;
    this.readers.delete(name);
    reader.removeAllListeners();
    reader.on('error', () => {});
    this.emit('detached', name);
  }

  private onReader(nfc: NfcInstance, reader: NfcReader): void {
    if (this.nfc !== nfc) return;
    const name = reader.name;
    // We read the UID ourselves for every card type; nfc-pcsc's automatic path would try an AID on type 4.
    reader.autoProcessing = false;
    this.readers.set(name, reader);
    this.emit('attached', name);
    if (reader.setBuzzerOutput) {
      reader.setBuzzerOutput(this.config.acr122Feedback).catch((err: Error) => this.logger.debug({ err: err.message }, 'ACR122 buzzer setting failed'));
    }
    reader.on('card', (card: { atr?: Buffer; standard?: string }) => void this.readCard(reader, card));
    reader.on('error', (err: Error) => this.emit('error', new Error(`reader ${name}: ${err.message}`)));
    reader.on('end', () => this.detach(name));
  }

  private async readCard(reader: NfcReader, card: { atr?: Buffer; standard?: string }): Promise<void> {
    const startedAt = Date.now();
    let response: Buffer;
    try {
      response = await withTimeout(reader.transmit(GET_UID, 12), this.config.readTimeoutMs, 'the card was taken away before its UID could be read');
    } catch (err) {
      this.misread(reader, (err as Error).message);
      return;
    }
    const sw = response.length >= 2 ? response.readUInt16BE(response.length - 2) : 0;
    const uidBytes = response.subarray(0, response.length - 2);
    if (sw !== 0x9000 || ![4, 7, 10].includes(uidBytes.length)) {
      this.emit('error', new Error(`reader ${reader.name}: unexpected answer to GET UID: ${response.toString('hex')} (card ${card.standard ?? 'unknown'})`));
      return;
    }
    const uid = uidBytes.toString('hex').toUpperCase();
    let sun: TapSun | undefined;
    if (this.config.sun.enabled && isIso14443Part4(card)) {
      const left = Math.max(1, this.config.readTimeoutMs - (Date.now() - startedAt));
      try {
        const read = await withTimeout(
          readSunMessage((apdu) => reader.transmit(apdu, 258), this.config.sun),
          left,
          'the card was taken away before its signed message could be read',
        );
        if (read.kind === 'sun') sun = read.sun;
        else this.logger.debug({ uid, why: read.why }, 'no SUN message: a plain badge');
      } catch (err) {
        this.misread(reader, (err as Error).message);
        return;
      }
    }
    this.emit('badge', sun ? { uid, readerName: reader.name, sun } : { uid, readerName: reader.name });
    if (this.config.acr122Feedback && reader.led) {
      // ACR122U: blink the green LED once to confirm the read (the panel gives the real feedback).
      reader.led(0b00101110, [0x01, 0x01, 0x01, 0x01]).catch(() => {});
    }
  }

  /** A card that went away mid-read: reported as an error (for the log) and as a misread (for the worker). */
  private misread(reader: NfcReader, reason: string): void {
    this.emit('error', new Error(`reader ${reader.name}: ${reason}`));
    this.emit('misread', { readerName: reader.name, reason });
  }
}

/** nfc-pcsc tells ISO 14443-4 cards (where an NTAG 424 DNA is) from 14443-3 ones by the ATR. */
function isIso14443Part4(card: { atr?: Buffer; standard?: string }): boolean {
  if (card.standard) return card.standard === 'TAG_ISO_14443_4';
  return card.atr !== undefined && card.atr[5] !== 0x4f;
}

