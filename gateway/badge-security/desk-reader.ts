import { EventEmitter } from 'node:events';
import { PCSCD_DEFAULT_SOCKET, pcscdListening } from '../../shared/pcscd.ts';
import type { CardTransport } from './apdu.ts';
import { withTimeout } from '../../shared/with-timeout.ts';
import { IsolatedNfc } from '../../shared/pcsc/isolated-nfc.ts';
import { loadNfcPcsc as loadModule, type NfcModule } from '../../shared/pcsc/nfc-pcsc-module.ts';

/**
 * The desk reader an office uses to personalise badges: any PC/SC contactless reader through pcscd and
 * nfc-pcsc, offered as a CardTransport per card. nfc-pcsc is optional: it is loaded only on start(), after
 * pcscd's socket answered, and runs in a child process (shared/pcsc/isolated-nfc.ts), because its constructor
 * can block its thread for ever when pcscd goes away while it opens: that must never freeze the gateway.
 */
interface NfcInstance extends EventEmitter {
  close(): void;
}
interface NfcReader extends EventEmitter {
  name: string;
  autoProcessing: boolean;
  transmit(data: Buffer, responseMaxLength: number): Promise<Buffer>;
  reader?: { close?(): void };
}

const DESK_NFC_PCSC_MISSING = 'personalising badges needs the optional dependency nfc-pcsc (and libpcsclite): install it with `npm install nfc-pcsc`';

export interface DeskCard {
  readerName: string;
  /** The UID the reader read with GET DATA (a random ID on badges configured for one). */
  uid: string;
  atr: Buffer;
  transport: CardTransport;
}

export interface DeskReaderOptions {
  socketPath?: string;
  /** Only readers whose name contains this text (several readers on one desk). */
  readerName?: string;
  /** A card that does not answer within this is treated as taken away. */
  transmitTimeoutMs?: number;
}

export interface DeskReaderEvents {
  attached: [readerName: string];
  card: [card: DeskCard];
  removed: [readerName: string];
  error: [error: Error];
}

const GET_UID = Buffer.from([0xff, 0xca, 0x00, 0x00, 0x00]);

const loadNfcPcsc = (): Promise<NfcModule> => loadModule(DESK_NFC_PCSC_MISSING);

let nfcPcscLoad: Promise<string | null> | undefined;

/** Why the desk reader cannot be used on this machine (nfc-pcsc or libpcsclite missing), or null; asked once. */
export function deskNfcPcscProblem(): Promise<string | null> {
  nfcPcscLoad ??= loadNfcPcsc().then(() => null, (err: unknown) => (err as Error).message);
  return nfcPcscLoad;
}

export class DeskReader extends EventEmitter<DeskReaderEvents> {
  private nfc: NfcInstance | null = null;
  private readonly readers = new Map<string, NfcReader>();

  constructor(private readonly o: DeskReaderOptions = {}) {
    super();
  }

  get readerNames(): string[] {
    return [...this.readers.keys()];
  }

  /** Opens the PC/SC context; fails at once, with the reason, when pcscd or nfc-pcsc is missing. */
  async start(): Promise<void> {
    const socket = this.o.socketPath ?? PCSCD_DEFAULT_SOCKET;
    if (!(await pcscdListening(socket))) throw new Error(`pcscd is not running (no listener on ${socket}); start it with \`systemctl start pcscd\``);
    await loadNfcPcsc();
    const nfc = new IsolatedNfc({ socketPath: socket });
    this.nfc = nfc;
    nfc.on('reader', (reader: NfcReader) => this.onReader(reader));
    nfc.on('error', (err: Error) => this.report(new Error(`PC/SC error: ${err.message}`)));
    // Open once the context is: the wait for a reader to attach then measures pcscd, not the host process's start.
    try {
      await nfc.ready;
    } catch (err) {
      await this.stop();
      throw new Error(`cannot open a PC/SC context: ${(err as Error).message}`, { cause: err });
    }
  }

  async stop(): Promise<void> {
    for (const reader of this.readers.values()) {
      reader.removeAllListeners();
      reader.on('error', () => {});
      try {
        reader.reader?.close?.();
      } catch {
        // Already gone with pcscd.
      }
    }
    this.readers.clear();
    const nfc = this.nfc;
    this.nfc = null;
    if (nfc) {
      nfc.removeAllListeners();
      nfc.on('error', () => {});
      try {
        nfc.close();
      } catch {
        // Already closed.
      }
    }
  }

  /** Resolves with the next card presented (or rejects after `timeoutMs`, or when `signal` aborts). */
  waitForCard(timeoutMs: number, signal?: AbortSignal): Promise<DeskCard> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.off('card', onCard);
        signal?.removeEventListener('abort', onAbort);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no badge was presented within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const onCard = (card: DeskCard) => {
        done();
        resolve(card);
      };
      const onAbort = () => {
        done();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('stopped while waiting for a badge'));
      };
      this.once('card', onCard);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private onReader(reader: NfcReader): void {
    if (this.o.readerName && !reader.name.includes(this.o.readerName)) return;
    reader.autoProcessing = false;
    this.readers.set(reader.name, reader);
    this.emit('attached', reader.name);
    reader.on('card', (card: { atr?: Buffer }) => void this.onCard(reader, card));
    reader.on('card.off', () => this.emit('removed', reader.name));
    reader.on('error', (err: Error) => this.report(new Error(`reader ${reader.name}: ${err.message}`)));
    reader.on('end', () => this.readers.delete(reader.name));
  }

  private async onCard(reader: NfcReader, card: { atr?: Buffer }): Promise<void> {
    const timeoutMs = this.o.transmitTimeoutMs ?? 3000;
    const transport: CardTransport = { transmit: (apdu) => withTimeout(reader.transmit(apdu, 258), timeoutMs, `the badge did not answer within ${timeoutMs} ms (taken away?)`) };
    try {
      const response = await transport.transmit(GET_UID);
      if (response.length < 2 || response.readUInt16BE(response.length - 2) !== 0x9000) throw new Error(`unexpected answer to GET UID: ${response.toString('hex')}`);
      this.emit('card', { readerName: reader.name, uid: response.subarray(0, response.length - 2).toString('hex').toUpperCase(), atr: card.atr ?? Buffer.alloc(0), transport });
    } catch (err) {
      this.report(new Error(`reader ${reader.name}: ${(err as Error).message}`));
    }
  }

  /** Errors go to 'error' listeners; with none, they are dropped rather than thrown (a card taken away is routine). */
  private report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

