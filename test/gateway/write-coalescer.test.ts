import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { createWriteCoalescer, guardedConnection } from '../../gateway/broker/frame-guard.ts';

/** The gateway holds a connection's writes until the next turn of the event loop and sends them together. */
describe('write coalescing', () => {
  it('corks a socket for the rest of the turn, then sends every write in order', async () => {
    const received: Buffer[] = [];
    let serverSide!: net.Socket;
    const server = net.createServer((s) => (serverSide = s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    client.on('data', (d) => received.push(d));
    await new Promise<void>((r) => client.once('connect', () => r()));
    while (!serverSide) await new Promise((r) => setTimeout(r, 5));

    const coalesce = createWriteCoalescer();
    const conn = guardedConnection(serverSide, 1024);
    coalesce(serverSide);
    coalesce(serverSide); // a second call in the same turn changes nothing
    for (let i = 0; i < 50; i++) conn.write(Buffer.from(`ack-${i};`));
    expect(serverSide.writableCorked).toBe(1);
    expect(serverSide.writableLength).toBeGreaterThan(0); // held, not sent yet

    // A write made from an immediate of this turn (as Aedes writes a QoS 1 message) joins them.
    setImmediate(() => conn.write(Buffer.from('late;')));
    await new Promise((r) => setImmediate(r));
    expect(serverSide.writableCorked, 'still held while this turn runs its immediates').toBe(1);
    await new Promise((r) => setImmediate(() => setImmediate(r)));
    expect(serverSide.writableCorked).toBe(0);
    const expected = `${Array.from({ length: 50 }, (_, i) => `ack-${i};`).join('')}late;`;
    while (Buffer.concat(received).length < expected.length) await new Promise((r) => setTimeout(r, 5));
    expect(Buffer.concat(received).toString()).toBe(expected);

    client.destroy();
    serverSide.destroy();
    await new Promise((r) => server.close(r));
  });
});
