// The PC/SC host process: runs nfc-pcsc for its parent (shared/pcsc/isolated-nfc.ts) and speaks to it over
// the IPC channel. It is plain JavaScript so it starts without the TypeScript loader, in both a checkout and a
// release.
//
// Why a process of its own: nfc-pcsc's constructor calls SCardEstablishContext in a loop for as long as pcscd
// answers "no service", on the thread that constructs it. When pcscd goes away between the parent's check of
// its socket and that call, the loop never ends; in the parent it would freeze the terminal (or the gateway's
// desk reader) for good. Here it only freezes this process, which stops sending heartbeats and is killed.
import { createRequire } from 'node:module';

const send = (message) => {
  if (process.connected) process.send(message);
};

// Heartbeats come from the event loop: a loop blocked in native code sends none.
const heartbeat = setInterval(() => send({ t: 'alive' }), Number(process.env.CIAO_PCSC_HEARTBEAT_MS || 250));

let NFC;
try {
  const mod = createRequire(import.meta.url)('nfc-pcsc');
  NFC = mod.NFC ?? mod.default?.NFC;
  if (typeof NFC !== 'function') throw new Error('nfc-pcsc has no NFC export');
} catch (err) {
  send({ t: 'fatal', message: String(err?.message ?? err).split('\n')[0] });
  process.exit(3);
}

const readers = new Map();
let nfc = null;

function reply(id, promise) {
  Promise.resolve()
    .then(() => promise())
    .then(
      (value) => send({ t: 'reply', id, ok: true, value: value instanceof Uint8Array ? value : null }),
      (err) => send({ t: 'reply', id, ok: false, message: String(err?.message ?? err) }),
    );
}

function closeAll() {
  for (const reader of readers.values()) {
    try {
      reader.reader?.close?.();
    } catch {
      // Gone with pcscd.
    }
  }
  readers.clear();
  try {
    nfc?.close();
  } catch {
    // Already closed.
  }
}

function exit(code) {
  clearInterval(heartbeat);
  closeAll();
  // The native status threads of nfc-pcsc may hold the process; nothing is left to say.
  process.exit(code);
}

process.on('message', (m) => {
  const reader = m.reader === undefined ? undefined : readers.get(m.reader);
  switch (m.t) {
    case 'transmit':
      return reply(m.id, () => {
        if (!reader) throw new Error(`reader ${m.reader} is gone`);
        return reader.transmit(Buffer.from(m.data), m.max);
      });
    case 'led':
      return reply(m.id, () => {
        if (!reader?.led) throw new Error(`reader ${m.reader} has no LED control`);
        return reader.led(m.led, m.blinking).then(() => null);
      });
    case 'buzzer':
      return reply(m.id, () => {
        if (!reader?.setBuzzerOutput) throw new Error(`reader ${m.reader} has no buzzer control`);
        return reader.setBuzzerOutput(m.enabled).then(() => null);
      });
    case 'close-reader':
      if (reader) {
        readers.delete(m.reader);
        try {
          reader.reader?.close?.();
        } catch {
          // Gone with pcscd.
        }
      }
      return undefined;
    case 'close':
      return exit(0);
    default:
      return undefined;
  }
});
// The parent went away (or closed the channel): nothing is left to serve.
process.on('disconnect', () => exit(0));

// Constructed on the next turn, after the first heartbeat could be scheduled, so the parent tells "slow" from
// "blocked" by the heartbeats alone.
setImmediate(() => {
  try {
    nfc = new NFC();
  } catch (err) {
    send({ t: 'fatal', message: String(err?.message ?? err).split('\n')[0] });
    return exit(4);
  }
  nfc.on('reader', (r) => {
    // The adapters read the UID themselves; nfc-pcsc's automatic path would try an AID on type 4 cards.
    r.autoProcessing = false;
    readers.set(r.name, r);
    send({ t: 'reader', reader: r.name, led: typeof r.led === 'function', buzzer: typeof r.setBuzzerOutput === 'function' });
    r.on('card', (card) => send({ t: 'card', reader: r.name, atr: card?.atr ?? null, standard: card?.standard ?? null }));
    r.on('card.off', () => send({ t: 'card.off', reader: r.name }));
    r.on('error', (err) => send({ t: 'reader-error', reader: r.name, message: String(err?.message ?? err) }));
    r.on('end', () => {
      readers.delete(r.name);
      send({ t: 'end', reader: r.name });
    });
  });
  nfc.on('error', (err) => send({ t: 'error', message: String(err?.message ?? err) }));
  send({ t: 'ready' });
});
