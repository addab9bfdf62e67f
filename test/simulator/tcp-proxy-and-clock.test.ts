import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { startTcpProxy, type TcpProxy } from '../../simulator/netproxy/tcp-proxy.ts';
import { VirtualClock } from '../../shared/clock.ts';

async function echoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

function nextData(s: net.Socket): Promise<string> {
  return new Promise((resolve) => s.once('data', (d) => resolve(String(d))));
}

function closed(s: net.Socket): Promise<void> {
  return new Promise((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
}

describe('TCP proxy for network faults', () => {
  let echo: Awaited<ReturnType<typeof echoServer>>;
  let proxy: TcpProxy;
  afterEach(async () => {
    await proxy?.close();
    await echo?.close();
  });

  it('relays, cuts open connections, refuses new ones while cut, and restores', async () => {
    echo = await echoServer();
    proxy = await startTcpProxy({ port: echo.port });
    const a = await connect(proxy.port);
    a.write('hello');
    expect(await nextData(a)).toBe('hello');

    proxy.cut();
    await closed(a);
    const refused = await connect(proxy.port).then((s) => closed(s).then(() => 'closed'), () => 'error');
    expect(['closed', 'error']).toContain(refused);

    proxy.restore();
    const b = await connect(proxy.port);
    b.write('again');
    expect(await nextData(b)).toBe('again');
    b.destroy();
    expect(proxy.connections).toBe(2);
  });

  it('holds bytes during a stall and delivers them after restore', async () => {
    echo = await echoServer();
    proxy = await startTcpProxy({ port: echo.port });
    const a = await connect(proxy.port);
    proxy.stall();
    let received = '';
    a.on('data', (d) => (received += String(d)));
    a.write('held');
    await new Promise((r) => setTimeout(r, 100));
    expect(received).toBe('');
    proxy.restore();
    await new Promise<void>((resolve) => { const t = setInterval(() => { if (received === 'held') { clearInterval(t); resolve(); } }, 5); });
    expect(received).toBe('held');
    a.destroy();
  });
});

describe('virtual clock', () => {
  it('runs at its speed from its start, jumps, and never goes back by advanceTo', () => {
    let real = 1_000;
    const clock = new VirtualClock(new Date('2026-03-02T06:00:00Z'), 60, () => real);
    real += 1_000;
    expect(clock.now().toISOString()).toBe('2026-03-02T06:01:00.000Z');
    clock.jump(-30_000);
    expect(clock.now().toISOString()).toBe('2026-03-02T06:00:30.000Z');
    clock.advanceTo(new Date('2026-03-02T05:00:00Z'));
    expect(clock.now().toISOString()).toBe('2026-03-02T06:00:30.000Z');
    clock.advanceTo(new Date('2026-03-02T07:00:00Z'));
    clock.speed = 1;
    real += 2_000;
    expect(clock.now().toISOString()).toBe('2026-03-02T07:00:02.000Z');
  });
});
