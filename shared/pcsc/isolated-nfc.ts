import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';

/**
 * nfc-pcsc run in a child process (nfc-host.mjs), offered with the shape of nfc-pcsc's own objects: an `NFC`
 * that emits `reader` and `error`, and readers that emit `card`, `card.off`, `error` and `end` and answer
 * `transmit`, `led` and `setBuzzerOutput`. Both PC/SC users (the terminal's badge reader and the gateway's
 * desk reader) open their context through it.
 *
 * The reason is a native call that can block for ever: nfc-pcsc's constructor retries SCardEstablishContext
 * for as long as pcscd says "no service", on the calling thread. A pcscd that stops between the check of its
 * socket and that call froze the whole process. In the child, a blocked context only stops the heartbeats:
 * the child is killed, `error` is emitted, and the caller's usual retry opens a new one.
 */
export interface IsolatedNfcOptions {
  /** pcscd's socket, passed to libpcsclite as PCSCLITE_CSOCK_NAME (its default is /run/pcscd/pcscd.comm). */
  socketPath?: string;
  /** How long the child may stay silent before its context is open: then it is deemed blocked (default 10000 ms). */
  openTimeoutMs?: number;
  /** How long the child may stay silent once open (default 5000 ms; it beats every 250 ms). */
  silenceTimeoutMs?: number;
}

type HostMessage =
  | { t: 'alive' }
  | { t: 'ready' }
  | { t: 'fatal'; message: string }
  | { t: 'error'; message: string }
  | { t: 'reader'; reader: string; led: boolean; buzzer: boolean }
  | { t: 'card'; reader: string; atr: Uint8Array | null; standard: string | null }
  | { t: 'card.off'; reader: string }
  | { t: 'reader-error'; reader: string; message: string }
  | { t: 'end'; reader: string }
  | { t: 'reply'; id: number; ok: true; value: Uint8Array | null }
  | { t: 'reply'; id: number; ok: false; message: string };

type HostRequest =
  | { t: 'transmit'; id: number; reader: string; data: Uint8Array; max: number }
  | { t: 'led'; id: number; reader: string; led: number; blinking: number[] }
  | { t: 'buzzer'; id: number; reader: string; enabled: boolean }
  | { t: 'close-reader'; reader: string }
  | { t: 'close' };

type RequestBody = HostRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

const HOST_ENTRY = fileURLToPath(new URL('./nfc-host.mjs', import.meta.url));

/** A reader of the child's context, with the part of nfc-pcsc's Reader the adapters use. */
export class IsolatedReader extends EventEmitter {
  /** Always off in the child: the adapters read the UID themselves. Kept for nfc-pcsc's shape. */
  autoProcessing = false;
  readonly led?: (led: number, blinking: number[]) => Promise<unknown>;
  readonly setBuzzerOutput?: (enabled: boolean) => Promise<unknown>;
  /** The native reader's close, as nfc-pcsc exposes it (`reader.reader.close()`). */
  readonly reader: { close(): void };

  constructor(
    readonly name: string,
    private readonly host: IsolatedNfc,
    controls: { led: boolean; buzzer: boolean },
  ) {
    super();
    if (controls.led) this.led = (led, blinking) => host.request({ t: 'led', reader: name, led, blinking });
    if (controls.buzzer) this.setBuzzerOutput = (enabled) => host.request({ t: 'buzzer', reader: name, enabled });
    this.reader = { close: () => host.send({ t: 'close-reader', reader: name }) };
  }

  async transmit(data: Buffer, responseMaxLength: number): Promise<Buffer> {
    const value = await this.host.request({ t: 'transmit', reader: this.name, data, max: responseMaxLength });
    if (!value) throw new Error('the reader gave no answer');
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
}

export class IsolatedNfc extends EventEmitter {
  private child: ChildProcess | null;
  private readonly readers = new Map<string, IsolatedReader>();
  private readonly pending = new Map<number, { resolve: (v: Uint8Array | null) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private opened = false;
  private lastHeard = Date.now();
  private readonly watchdog: NodeJS.Timeout;
  private readonly killOnExit = () => this.child?.kill('SIGKILL');
  /** Settles once the child's PC/SC context is open, or with the reason it never will be. */
  readonly ready: Promise<void>;
  private settleReady: { resolve(): void; reject(err: Error): void } | undefined;

  /** Starts the child at once, like nfc-pcsc's constructor opens its context, but without waiting for it. */
  constructor(private readonly o: IsolatedNfcOptions = {}) {
    super();
    this.ready = new Promise<void>((resolve, reject) => (this.settleReady = { resolve, reject }));
    // Callers that never wait for it must not see an unhandled rejection.
    this.ready.catch(() => undefined);
    const env = { ...process.env };
    if (o.socketPath) env.PCSCLITE_CSOCK_NAME = o.socketPath;
    const child = fork(HOST_ENTRY, [], { env, serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [] });
    this.child = child;
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    child.on('message', (m: HostMessage) => this.onMessage(m));
    child.on('error', (err) => this.fail(`the PC/SC host process could not run: ${err.message}`));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      const last = stderr.trim().split('\n').pop();
      this.fail(`the PC/SC host process ended (${signal ?? `exit ${code}`})${last ? `: ${last}` : ''}`);
    });
    // The child keeps nothing alive on its own: the adapter that opened it decides when the process ends.
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
    process.once('exit', this.killOnExit);
    const openTimeoutMs = o.openTimeoutMs ?? 10_000;
    const silenceTimeoutMs = o.silenceTimeoutMs ?? 5000;
    this.watchdog = setInterval(() => {
      const silentMs = Date.now() - this.lastHeard;
      if (!this.opened && silentMs > openTimeoutMs) this.fail(`the PC/SC context did not open within ${openTimeoutMs} ms (pcscd stopped while it was opening?)`);
      else if (this.opened && silentMs > silenceTimeoutMs) this.fail(`the PC/SC host process stopped answering for ${silentMs} ms`);
    }, 250);
    this.watchdog.unref();
  }

  /** The host process's pid while it runs (for tests and logs). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get open(): boolean {
    return this.opened && this.child !== null;
  }

  /** Ends the child and its PC/SC context; pending requests fail. */
  close(): void {
    const child = this.child;
    if (!child) return;
    const wasOpen = this.opened;
    this.send({ t: 'close' });
    this.teardown(new Error('the PC/SC context was closed'));
    if (child.exitCode !== null || child.signalCode !== null) return;
    // A child still opening may be blocked in native code, where it reads nothing: it is killed at once.
    // An open one is asked, and killed if it has not ended shortly after, or when this process exits first.
    if (!wasOpen) {
      child.kill('SIGKILL');
      return;
    }
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const timer = setTimeout(kill, 1000);
    timer.unref();
    process.once('exit', kill);
    child.once('exit', () => {
      clearTimeout(timer);
      process.off('exit', kill);
    });
  }

  /** @internal for IsolatedReader */
  send(request: HostRequest): void {
    const child = this.child;
    if (!child?.connected) return;
    try {
      child.send(request);
    } catch {
      // The channel closed under us: the exit handler reports it.
    }
  }

  /** @internal for IsolatedReader */
  request(body: RequestBody): Promise<Uint8Array | null> {
    if (!this.child?.connected) return Promise.reject(new Error('the PC/SC context is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ ...body, id } as HostRequest);
    });
  }

  private onMessage(m: HostMessage): void {
    this.lastHeard = Date.now();
    switch (m.t) {
      case 'alive':
        return;
      case 'ready':
        this.opened = true;
        this.settleReady?.resolve();
        this.settleReady = undefined;
        return;
      case 'fatal':
        return this.fail(m.message);
      case 'error':
        if (this.listenerCount('error') > 0) this.emit('error', new Error(m.message));
        return;
      case 'reader': {
        const reader = new IsolatedReader(m.reader, this, { led: m.led, buzzer: m.buzzer });
        this.readers.set(m.reader, reader);
        this.emit('reader', reader);
        return;
      }
      case 'card': {
        const atr = m.atr ? Buffer.from(m.atr.buffer, m.atr.byteOffset, m.atr.byteLength) : undefined;
        this.readers.get(m.reader)?.emit('card', { atr, standard: m.standard ?? undefined });
        return;
      }
      case 'card.off':
        this.readers.get(m.reader)?.emit('card.off', {});
        return;
      case 'reader-error':
        this.readers.get(m.reader)?.emit('error', new Error(m.message));
        return;
      case 'end': {
        const reader = this.readers.get(m.reader);
        this.readers.delete(m.reader);
        reader?.emit('end');
        return;
      }
      case 'reply': {
        const waiter = this.pending.get(m.id);
        if (!waiter) return;
        this.pending.delete(m.id);
        if (m.ok) waiter.resolve(m.value);
        else waiter.reject(new Error(m.message));
        return;
      }
    }
  }

  /** The context is lost: the child is killed, pending requests and readers end, and `error` says why. */
  private fail(reason: string): void {
    if (!this.child) return;
    const child = this.child;
    this.teardown(new Error(reason));
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (this.listenerCount('error') > 0) this.emit('error', new Error(reason));
  }

  private teardown(err: Error): void {
    this.settleReady?.reject(err);
    this.settleReady = undefined;
    this.child = null;
    this.opened = false;
    clearInterval(this.watchdog);
    process.off('exit', this.killOnExit);
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
    for (const reader of this.readers.values()) reader.emit('end');
    this.readers.clear();
  }
}
