import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import { localDate } from '../../shared/time.ts';
import { openDatabase } from '../../shared/sqlite.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { clientReferenceFor } from '../../gateway/onss/index.ts';
import { startEmulator, type EmulatorHandle } from '../../simulator/emulator/index.ts';
import { freePort } from '../../simulator/world/free-port.ts';
import { loadOrCreateKeyPair } from '../../simulator/world/keys.ts';
import { demoKnownData, seedDemoWorld } from '../../simulator/world/seed-demo.ts';
import { GatewayProcess, KNOWN_BADGES, TerminalGroup, waitFor, type TerminalSpec } from '../chaos/helpers/system.ts';

/**
 * Two `ciao gateway` processes started on one SQLite file (by mistake, or as a warm standby): both take
 * terminals and taps, but only the one holding the forwarder lease forwards; the other's health says it
 * stands by. The holder is SIGKILLed under load: the other takes the lease, reconciles what was left in
 * flight, and forwards the rest; its terminals move to the surviving gateway (their address lists). Every
 * tap the terminals recorded reaches the ONSS emulator exactly once.
 */
const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const dir = mkdtempSync(join(base, 'ciao-two-gw-'));
const TERMINALS = 6;
let emulator: EmulatorHandle | undefined;
const gateways: GatewayProcess[] = [];
let group: TerminalGroup | undefined;
let load: NodeJS.Timeout | undefined;

afterAll(async () => {
  if (load) clearInterval(load);
  await group?.stop();
  for (const g of gateways) await g.kill9();
  await emulator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Health {
  status: string;
  forwarder: string;
  forwarderHolder?: string;
}

async function health(port: number): Promise<Health> {
  return (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as Health;
}

describe('two gateway processes on one SQLite file', () => {
  it('forward every tap exactly once: one forwards, the other stands by and takes over when the first is SIGKILLed', async () => {
    const today = localDate(new Date());
    const dbPath = join(dir, 'gateway.db');
    const ids: string[] = [];
    const secrets: Record<string, string> = {};
    {
      const db = openGatewayDatabase(dbPath);
      await seedDemoWorld(SqliteStore.of(db), today);
      for (let i = 1; i <= TERMINALS; i++) {
        const id = `pair-${i}`;
        secrets[id] = (await addTerminal(SqliteStore.of(db), { id, siteId: 'site-a', debounceSeconds: 0, armSeconds: 5 })).secret;
        ids.push(id);
      }
      db.close();
    }
    const keys = await loadOrCreateKeyPair(join(dir, 'onss-key.pem'), join(dir, 'onss-key.pub.pem'));
    const emuDbPath = join(dir, 'onss-emulator.db');
    emulator = await startEmulator({
      host: '127.0.0.1', port: 0, dbPath: emuDbPath,
      clients: [{ clientId: 'pair-gateway', publicKeyPem: keys.publicKeyPem }],
      knownData: demoKnownData(today), logger: createLogger('emulator', { level: 'silent' }), remarksDelayMs: 0,
    });

    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const mqtt = [ports[0]!, ports[1]!];
    const http = [ports[2]!, ports[3]!];
    for (const n of [0, 1]) {
      const configPath = join(dir, `gateway-${n + 1}.json`);
      writeFileSync(configPath, JSON.stringify({
        database: dbPath,
        mqtt: { host: '127.0.0.1', port: mqtt[n], drainTimeoutMs: 1000 },
        http: { host: '127.0.0.1', port: http[n] },
        logLevel: 'info',
        onss: {
          baseUrl: emulator.url, clientId: 'pair-gateway', privateKey: join(dir, 'onss-key.pem'),
          batchSize: 20, requestTimeoutMs: 2000, reconcileDelayMs: 300, backoffInitialMs: 50, backoffMaxMs: 1000,
          circuitOpenMs: 1000, idlePollMs: 100, validityPollIntervalMs: 0,
          lease: { store: 'sqlite', ttlMs: 6000, renewMs: 300 },
        },
      }));
      const gw = new GatewayProcess(configPath, join(dir, `gateway-${n + 1}.log`));
      gateways.push(gw);
      await gw.start();
    }
    const [first, second] = gateways as [GatewayProcess, GatewayProcess];

    // The first started holds the lease; the second stands by, healthy, and says who forwards.
    const h1 = await health(http[0]!);
    expect(h1).toMatchObject({ status: 'ok', forwarder: 'forwarding' });
    const h2 = await waitFor(async () => {
      const h = await health(http[1]!);
      return h.forwarderHolder ? h : undefined;
    }, 'the standby to name the holder', 10_000);
    expect(h2).toMatchObject({ status: 'ok', forwarder: 'standby', forwarderHolder: h1.forwarderHolder });

    // Terminals on both gateways: half list the first one first, half the second.
    const urls = mqtt.map((p) => `mqtt://127.0.0.1:${p}`);
    mkdirSync(join(dir, 'terminals'));
    const specs: TerminalSpec[] = ids.map((id, i) => ({ id, secret: secrets[id]!, url: i % 2 === 0 ? urls : [...urls].reverse(), outbox: join(dir, 'terminals', `${id}.db`) }));
    group = new TerminalGroup('pair', specs, join(dir, 'terminals.json'), () => {});
    await group.start();
    let tick = 0;
    load = setInterval(() => {
      tick++;
      ids.forEach((id, i) => group!.send(`tap ${id} ${KNOWN_BADGES[(tick + i) % KNOWN_BADGES.length]}`));
    }, 250);

    // Both gateways store taps; only the holder forwards them.
    const storedBy = () => openDatabase(dbPath, { readonly: true });
    await waitFor(() => emulator!.store.stats().registrations >= 30, 'the first gateway to forward', 30_000);
    expect((await health(http[1]!)).forwarder).toBe('standby');
    const onssBeforeKill = emulator.store.stats().registrations;

    await first.kill9();
    await waitFor(async () => (await health(http[1]!)).forwarder === 'forwarding', 'the second gateway to take over', 20_000);
    // Load goes on after the takeover; then it stops and everything drains.
    const afterTakeover = emulator.store.stats().registrations;
    await waitFor(() => emulator!.store.stats().registrations >= afterTakeover + 30, 'the second gateway to forward new taps', 30_000);
    clearInterval(load);
    load = undefined;
    await waitFor(async () => Object.values(await group!.stats()).every((q) => q === 0), 'every terminal outbox to drain', 30_000, 250);
    await waitFor(() => {
      const db = storedBy();
      try {
        const s = db.prepare(`SELECT (SELECT COUNT(*) FROM registrations) AS regs,
          (SELECT COUNT(*) FROM forward_state WHERE state = 'created') AS created,
          (SELECT COUNT(*) FROM forward_state WHERE state IN ('in_flight', 'retry')) AS unsettled`).get() as { regs: number; created: number; unsettled: number };
        return s.regs > 0 && s.created === s.regs && s.unsettled === 0;
      } finally {
        db.close();
      }
    }, 'every registration to be created at ONSS', 60_000, 250);

    // Count, from the real stores: the terminals' own sequence numbers, the gateway's taps, ONSS's registrations.
    const gwDb = storedBy();
    const taps = gwDb.prepare('SELECT tap_id, terminal_id, seq FROM taps').all() as Array<{ tap_id: string; terminal_id: string; seq: number }>;
    gwDb.close();
    const emu = openDatabase(emuDbPath, { readonly: true });
    const perRef = new Map((emu.prepare('SELECT client_reference AS ref, COUNT(*) AS n FROM registrations GROUP BY client_reference').all() as Array<{ ref: string; n: number }>).map((r) => [r.ref, r.n]));
    const onssTotal = emu.prepare('SELECT COUNT(*) FROM registrations').pluck().get() as number;
    emu.close();
    let recorded = 0;
    const missing: string[] = [];
    for (const id of ids) {
      const outbox = openDatabase(join(dir, 'terminals', `${id}.db`), { readonly: true });
      const next = Number((outbox.prepare("SELECT value FROM kv WHERE key = 'next_seq'").pluck().get() as string | undefined) ?? '1');
      outbox.close();
      recorded += next - 1;
      for (let seq = 1; seq < next; seq++) if (!taps.some((t) => t.terminal_id === id && t.seq === seq)) missing.push(`${id}#${seq}`);
    }
    const notOnce = taps.filter((t) => perRef.get(clientReferenceFor(t.tap_id)) !== 1).map((t) => `${t.tap_id} x${perRef.get(clientReferenceFor(t.tap_id)) ?? 0}`);
    console.log(`two gateways on one SQLite file: ${recorded} taps recorded, ${taps.length} stored, ${onssTotal} at ONSS (${onssBeforeKill} before the SIGKILL of the holder); lost ${missing.length}, not once ${notOnce.length}`);
    expect(missing).toEqual([]);
    expect(notOnce).toEqual([]);
    expect(taps).toHaveLength(recorded);
    expect(onssTotal).toBe(recorded);
    expect(onssBeforeKill).toBeGreaterThan(0);
    expect(onssTotal).toBeGreaterThan(afterTakeover);

    // Each gateway's log says what it did with the lease.
    expect(readFileSync(first.logPath, 'utf8')).toContain('forwarder lease taken');
    const secondLog = readFileSync(second.logPath, 'utf8');
    expect(secondLog).toContain('standing by: another gateway holds the forwarder lease');
    expect(secondLog).toContain('forwarder lease taken');
    expect(first.unexpectedExits).toEqual([]);
    expect(second.unexpectedExits).toEqual([]);
  });
});
