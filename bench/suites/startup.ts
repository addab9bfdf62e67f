/**
 * Start-up time, from spawn to ready:
 * - gateway: `ciao gateway --config FILE` until it prints its ready line (MQTT and HTTP listening), on a
 *   database seeded with a site, 50 terminals and 800 badges;
 * - terminal: `ciao terminal --config FILE` (simulated reader, console panel) until it has connected to a
 *   broker and subscribed to its acks topic, observed from the broker's side.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Aedes } from 'aedes';
import { createServer, type AddressInfo } from 'node:net';
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { gatewayMissing, prepareGatewayWorkspace, REPO_ROOT, spawnGateway } from '../lib/targets.ts';
import { spawnNodeTs } from '../lib/processes.ts';
import { summarise } from '../../simulator/load/latency.ts';

const ROUNDS: Record<BenchSize, number> = { quick: 3, full: 7 };

async function gatewayStartup(rounds: number): Promise<number[]> {
  const workspace = await prepareGatewayWorkspace(50);
  const times: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const gw = await spawnGateway(workspace.configPath);
      times.push(gw.readyMs);
      await gw.process.stop(15_000);
    }
  } finally {
    workspace.remove();
  }
  return times;
}

/** Why `ciao terminal` cannot be started here, or undefined. */
function terminalMissing(): string | undefined {
  const command = readFileSync(join(REPO_ROOT, 'bin/commands/terminal.ts'), 'utf8');
  if (/unavailable\(/.test(command)) return '`ciao terminal` is not available yet (bin/commands/terminal.ts is a placeholder)';
  return undefined;
}

async function terminalStartup(rounds: number): Promise<number[]> {
  const broker = await Aedes.createBroker();
  const server = createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const dir = mkdtempSync(join(REPO_ROOT, '.bench-terminal-'));
  const times: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const id = `bench-start-${i}`;
      const config = join(dir, `${id}.json`);
      writeFileSync(config, JSON.stringify({ id, secret: 'bench', mqtt: { url: `mqtt://127.0.0.1:${port}` }, reader: 'simulated', panel: 'console', outbox: join(dir, `${id}.db`) }));
      const subscribed = new Promise<number>((resolve) => {
        const onSubscribe = (subs: Array<{ topic: string }>, client: { id: string }) => {
          if (client.id === id && subs.some((s) => s.topic.endsWith('/acks'))) {
            broker.off('subscribe', onSubscribe);
            resolve(performance.now());
          }
        };
        broker.on('subscribe', onSubscribe);
      });
      const t0 = performance.now();
      const proc = spawnNodeTs(join(REPO_ROOT, 'bin/ciao.mjs'), ['terminal', '--config', config], { cwd: REPO_ROOT });
      const outcome = await Promise.race([subscribed.then((t) => t - t0), proc.exited.then((code) => new Error(`ciao terminal exited (${code}) before connecting: ${proc.output().slice(-1500)}`)), new Promise<Error>((r) => setTimeout(() => r(new Error('ciao terminal did not connect within 60 s')), 60_000).unref())]);
      await proc.stop(10_000);
      if (outcome instanceof Error) throw outcome;
      times.push(outcome);
    }
  } finally {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

export async function runStartupBench(size: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const rounds = ROUNDS[size];
  const problems: string[] = [];
  const figures: Figure[] = [];
  const details: Record<string, unknown> = { rounds };
  const describe = (times: number[]) => {
    const s = summarise(times)!;
    return `median of ${times.length} starts; min ${Math.round(s.minMs)} ms, max ${Math.round(s.maxMs)} ms`;
  };

  const gwMissing = gatewayMissing();
  let gateway: number[] | undefined;
  if (gwMissing) problems.push(`gateway: ${gwMissing}`);
  else {
    try {
      gateway = await gatewayStartup(rounds);
      details.gatewayMs = gateway;
    } catch (err) {
      problems.push(`gateway: ${(err as Error).message}`);
    }
  }
  figures.push({ name: 'gateway start-up (spawn to MQTT and HTTP listening)', value: gateway ? Math.round(summarise(gateway)!.p50Ms) : null, unit: 'ms', ...(gateway ? { note: describe(gateway) } : gwMissing ? { note: gwMissing } : {}) });

  const tMissing = terminalMissing();
  let terminal: number[] | undefined;
  if (tMissing) problems.push(`terminal: ${tMissing}`);
  else {
    try {
      terminal = await terminalStartup(rounds);
      details.terminalMs = terminal;
    } catch (err) {
      problems.push(`terminal: ${(err as Error).message}`);
    }
  }
  figures.push({ name: 'terminal start-up (spawn to connected and subscribed)', value: terminal ? Math.round(summarise(terminal)!.p50Ms) : null, unit: 'ms', ...(terminal ? { note: `${describe(terminal)}; simulated reader, console panel, a plain broker without authentication` } : tMissing ? { note: tMissing } : {}) });

  return {
    status: gateway || terminal ? 'ok' : problems.length && !gwMissing && !tMissing ? 'failed' : 'not-run',
    ...(problems.length ? { reason: problems.join('; ') } : {}),
    figures,
    details,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('startup', 'start-up time', runStartupBench);
}
