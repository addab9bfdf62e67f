import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { tapSchema } from '../../shared/mqtt/payloads.ts';
import { parseTopic } from '../../shared/mqtt/topics.ts';
import { runLoad, readCredentialsFile, type TerminalCredentials } from '../../simulator/load/index.ts';
import { startPlainAedes, type PlainBroker } from '../../bench/relay/aedes-broker.ts';
import { startAckResponder, type AckResponder } from '../../bench/relay/ack-responder.ts';

const terminals = (n: number, prefix = 't'): TerminalCredentials[] => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i + 1}`, secret: `s${i + 1}` }));

describe('load generator against a real Aedes broker and an ack responder', () => {
  let broker: PlainBroker;
  let responder: AckResponder;

  beforeAll(async () => {
    broker = await startPlainAedes();
    responder = await startAckResponder(broker.url);
  });
  afterAll(async () => {
    await responder.close();
    await broker.close();
  });

  it('sends the asked count of valid taps, each acked once, with malformed ones rejected and counted', async () => {
    // A second subscriber checks what actually went over the wire.
    const spy = await mqtt.connectAsync(broker.url, { clientId: 'spy', reconnectPeriod: 0 });
    const seen: Array<{ terminal: string; payload: unknown }> = [];
    spy.on('message', (topic, payload) => {
      const t = parseTopic(topic);
      if (t.ok) seen.push({ terminal: t.value.terminalId, payload: JSON.parse(payload.toString()) });
    });
    await spy.subscribeAsync('ciao/v1/terminals/+/taps', { qos: 1 });

    const result = await runLoad({ url: broker.url, terminals: terminals(5), count: 2000, invalidEvery: 10, window: 8, progress: false });

    expect(result.sent).toBe(2000);
    // Every 10th tap of each terminal is malformed; terminals may end a few taps apart, hence 196..200.
    expect(result.invalidSent).toBeGreaterThanOrEqual(196);
    expect(result.invalidSent).toBeLessThanOrEqual(200);
    expect(result.stored + result.rejected).toBe(2000);
    expect(result.rejected).toBe(result.invalidSent);
    expect(result.rejectReasons).toEqual({ 'invalid-field': result.invalidSent });
    expect(result.stored).toBe(2000 - result.invalidSent);
    expect(result.unacked).toBe(0);
    expect(result.wrongAnswers).toBe(0);
    expect(result.unexpectedAcks).toBe(0);
    expect(result.ackedPerSecond).toBeGreaterThan(0);
    const lat = result.latencyMs!;
    expect(lat.count).toBe(2000);
    expect(lat.minMs).toBeLessThanOrEqual(lat.p50Ms);
    expect(lat.p50Ms).toBeLessThanOrEqual(lat.p95Ms);
    expect(lat.p95Ms).toBeLessThanOrEqual(lat.p99Ms);
    expect(lat.p99Ms).toBeLessThanOrEqual(lat.maxMs);

    await expect.poll(() => seen.length).toBe(2000);
    await spy.endAsync();
    const valid = seen.filter((s) => tapSchema.safeParse(s.payload).success);
    expect(valid).toHaveLength(result.stored);
    expect(new Set(seen.map((s) => (s.payload as { id: string }).id)).size).toBe(2000);
    // Sequence numbers count up per terminal, from 0, with no gap; the malformed ones are exactly every 10th.
    let invalidSeen = 0;
    for (const t of terminals(5)) {
      const mine = seen.filter((s) => s.terminal === t.id).map((s) => s.payload as { seq: number });
      const seqs = mine.map((p) => p.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: mine.length }, (_, i) => i));
      for (const p of mine) {
        const isValid = tapSchema.safeParse(p).success;
        expect(isValid).toBe((p.seq + 1) % 10 !== 0);
        if (!isValid) invalidSeen++;
      }
    }
    expect(invalidSeen).toBe(result.invalidSent);
    const first = valid[0]!.payload as { at: string; direction: string };
    expect(first.at).toMatch(/[+-]\d{2}:\d{2}$/);
  });

  it('keeps to a fixed total rate and acks everything it sent', async () => {
    const result = await runLoad({ url: broker.url, terminals: terminals(4, 'r'), rate: 400, duration: 1, progress: false });
    expect(result.mode).toBe('fixed-rate');
    // At most rate x duration: the schedule never sends ahead of what is due.
    expect(result.sent).toBeGreaterThan(0);
    expect(result.sent).toBeLessThanOrEqual(400);
    expect(result.stored).toBe(result.sent);
    expect(result.unacked).toBe(0);
    expect(result.latencyMs!.p50Ms).toBeLessThanOrEqual(result.latencyMs!.p99Ms);
  });

  it('creates its terminals through a function the caller passes', async () => {
    const created: number[] = [];
    const result = await runLoad({
      url: broker.url,
      terminals: { count: 3, create: (i) => (created.push(i), { id: `made-${i}`, secret: 'x' }) },
      count: 30,
      progress: false,
    });
    expect(created).toEqual([0, 1, 2]);
    expect(result.terminals).toBe(3);
    expect(result.stored).toBe(30);
  });

  it('reports progress as plain lines when asked', async () => {
    const lines: string[] = [];
    await runLoad({
      url: broker.url,
      terminals: terminals(2, 'p'),
      count: 100,
      progress: { mode: 'plain', output: { write: (s: string) => lines.push(s) } },
    });
    expect(lines.at(-1)).toMatch(/^load: 100\/100 taps \(100\.0%\) \| .* taps\/s \| elapsed \d+:\d{2} \| remaining 0 \| ETA 0:00/);
  });
});

describe('load generator edge cases', () => {
  it('counts taps nobody acks as unacked after the drain timeout', async () => {
    const broker = await startPlainAedes();
    try {
      const result = await runLoad({ url: broker.url, terminals: terminals(2, 'u'), count: 20, drainTimeoutMs: 300, progress: false });
      expect(result.sent).toBe(20);
      expect(result.stored).toBe(0);
      expect(result.unacked).toBe(20);
      expect(result.latencyMs).toBeUndefined();
    } finally {
      await broker.close();
    }
  });

  it('ends the run when the broker goes away, counting what was never acked', async () => {
    const broker = await startPlainAedes();
    let closed = false;
    try {
      const spy = await mqtt.connectAsync(broker.url, { clientId: 'spy-d', reconnectPeriod: 0 });
      let seen = 0;
      spy.on('message', () => seen++);
      await spy.subscribeAsync('ciao/v1/terminals/+/taps', { qos: 1 });
      const run = runLoad({ url: broker.url, terminals: terminals(2, 'd'), count: 10_000, window: 5, drainTimeoutMs: 30_000, progress: false });
      // Nobody acks, so each terminal fills its window of 5 and waits; then the broker stops.
      await expect.poll(() => seen, { timeout: 20_000 }).toBe(10);
      spy.end(true);
      await broker.close();
      closed = true;
      const result = await run;
      expect(result.disconnects).toBe(2);
      expect(result.sent).toBe(10);
      expect(result.unacked).toBe(10);
      expect(result.stored).toBe(0);
    } finally {
      if (!closed) await broker.close();
    }
  });

  it('fails with the terminal and the broker reason when a login is refused', async () => {
    const aedes = await Aedes.createBroker({
      authenticate: (_client, username, password, done) => {
        const ok = username === 'good' && password?.toString() === 'right';
        done(ok ? null : Object.assign(new Error('bad login'), { returnCode: 4 }), ok);
      },
    });
    const server: Server = createServer(aedes.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await expect(runLoad({ url, terminals: [{ id: 'good', secret: 'wrong' }], count: 1, progress: false })).rejects.toThrow(/terminal good could not connect.*(Bad username or password|refused)/i);
      const ok = await runLoad({ url, terminals: [{ id: 'good', secret: 'right' }], count: 3, drainTimeoutMs: 100, progress: false });
      expect(ok.sent).toBe(3);
    } finally {
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('refuses options that would never end or make no sense, naming the field', async () => {
    await expect(runLoad({ url: 'mqtt://127.0.0.1:1', terminals: terminals(1) })).rejects.toThrow(/count or duration/);
    await expect(runLoad({ url: 'mqtt://127.0.0.1:1', terminals: terminals(1), count: 5, rate: -3 })).rejects.toThrow(/rate: must be a number above 0/);
    await expect(runLoad({ url: 'http://x', terminals: terminals(1), count: 5 })).rejects.toThrow(/url: must be an MQTT URL/);
  });

  it('reads a credentials file and names the bad entry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-load-'));
    try {
      const good = join(dir, 'good.json');
      writeFileSync(good, JSON.stringify([{ id: 'a1', secret: 'x' }, { id: 'a2', secret: 'y' }]));
      expect(readCredentialsFile(good)).toEqual([{ id: 'a1', secret: 'x' }, { id: 'a2', secret: 'y' }]);
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, JSON.stringify([{ id: 'a1', secret: 'x' }, { id: 'a/2', secret: '' }]));
      expect(() => readCredentialsFile(bad)).toThrow(/1\.id: must be letters.*1\.secret: must not be empty/);
      const dup = join(dir, 'dup.json');
      writeFileSync(dup, JSON.stringify([{ id: 'a1', secret: 'x' }, { id: 'a1', secret: 'y' }]));
      expect(() => readCredentialsFile(dup)).toThrow(/a1 is listed twice/);
      const notJson = join(dir, 'nj.json');
      writeFileSync(notJson, '{oops');
      expect(() => readCredentialsFile(notJson)).toThrow(/must be JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
