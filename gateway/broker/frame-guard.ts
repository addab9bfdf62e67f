import { Duplex, Transform, type TransformCallback } from 'node:stream';
import type { Socket } from 'node:net';

/**
 * MQTT's fixed header announces a packet's length (up to 256 MiB) before its bytes arrive, and the broker's
 * parser buffers until the packet is complete. Unchecked, one client (even before it authenticates) could
 * make the gateway hold hundreds of megabytes. This guard reads only the fixed headers as bytes pass and
 * closes the connection when a packet announces more than the limit; the bytes themselves pass unchanged.
 */
class FrameSizeGuard extends Transform {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'type') {
        i += 1;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else if (this.state === 'length') {
        const b = chunk[i++]!;
        this.length += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes += 1;
        if (b & 0x80) {
          if (this.lengthBytes >= 4) return done(new Error('malformed MQTT remaining length'));
          continue;
        }
        if (this.length > this.maxBytes) return done(new Error(`MQTT packet of ${this.length} bytes refused (limit ${this.maxBytes})`));
        this.remaining = this.length;
        this.state = this.remaining > 0 ? 'body' : 'type';
      } else {
        const skip = Math.min(this.remaining, chunk.length - i);
        i += skip;
        this.remaining -= skip;
        if (this.remaining === 0) this.state = 'type';
      }
    }
    done(null, chunk);
  }
}

/**
 * The socket as the broker sees it: reads go through the guard, writes go straight to the socket (each write
 * is handed to the socket at once, so writes made in one turn of the event loop can share one send while the
 * socket is corked: see `corkUntilNextTurn`). `remoteAddress` stays visible (authentication rate-limits by
 * address).
 */
export function guardedConnection(socket: Socket, maxBytes: number, onRefused?: (err: Error) => void): Duplex {
  const guard = new FrameSizeGuard(maxBytes);
  socket.pipe(guard);
  const conn = new Duplex({
    read() {
      guard.resume();
    },
    write(chunk: Buffer, _enc, done) {
      if (socket.write(chunk)) done();
      else socket.once('drain', () => done());
    },
    writev(chunks, done) {
      let flowing = true;
      for (const { chunk } of chunks) flowing = socket.write(chunk as Buffer);
      if (flowing) done();
      else socket.once('drain', () => done());
    },
    final(done) {
      socket.end(done);
    },
    destroy(err, done) {
      socket.destroy();
      done(err);
    },
  });
  guard.on('data', (chunk: Buffer) => {
    if (!conn.push(chunk)) guard.pause();
  });
  guard.on('end', () => conn.push(null));
  guard.on('error', (err) => {
    onRefused?.(err);
    socket.destroy();
    conn.destroy();
  });
  socket.on('close', () => conn.destroy());
  conn.on('close', () => socket.destroy());
  socket.on('error', () => undefined); // reported through close; never an uncaught error
  Object.defineProperty(conn, 'remoteAddress', { get: () => socket.remoteAddress });
  return conn;
}

/**
 * Holds a socket's writes until the next turn of the event loop has run its immediates, then sends them
 * together: a commit acks dozens of taps at once, and a burst of incoming taps is answered by as many
 * PUBACKs. One send instead of one per packet. Aedes writes a QoS 1 message from an immediate of its own
 * (scheduled when it is published, after the socket was corked here), so the flush waits for the immediates
 * of this turn to have run: it is scheduled from an immediate, and runs in the turn after. The delay is one
 * turn of an event loop that has nothing else to do: microseconds.
 */
export function createWriteCoalescer(): (socket: Socket) => void {
  const corked = new Set<Socket>();
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    for (const s of corked) if (!s.destroyed) s.uncork();
    corked.clear();
  };
  return (socket) => {
    if (corked.has(socket) || socket.destroyed) return;
    socket.cork();
    corked.add(socket);
    if (!scheduled) {
      scheduled = true;
      setImmediate(() => setImmediate(flush));
    }
  };
}
