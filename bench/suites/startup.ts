/**
 * Start-up time, from spawn to ready, for the compiled release (what `npm run build` makes and a box runs)
 * and, in the same run as the baseline, for the sources through the tsx loader (`ciao` in a checkout):
 * - gateway: `ciao gateway --config FILE` until it prints its ready line (MQTT and HTTP listening), on a
 *   database seeded with a site, 50 terminals and 800 badges;
 * - terminal: `ciao terminal --config FILE` (simulated reader, console panel) until it has connected to a
 *   broker and subscribed to its acks topic, observed from the broker's side.
 * Starts of the two runtimes alternate, so both see the same machine. Targets (compiled): gateway
 * <= 500 ms, terminal <= 300 ms.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Aedes } from 'aedes';
import { createServer, type AddressInfo } from 'node:net';
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import { firstJsonLine, spawnProcess } from '../lib/processes.ts';
import { buildRelease, ciaoCommand, type BuiltRelease, type Runtime } from '../lib/release.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { gatewayMissing, prepareGatewayWorkspace, REPO_ROOT } from '../lib/targets.ts';
import { summarise } from '../../simulator/load/latency.ts';

const ROUNDS: Record<BenchSize, number> = { quick: 3, full: 7 };
const RUNTIMES: Runtime[] = ['compiled', 'loader'];
const TARGETS: Record<'gateway' | 'terminal', { op: '<='; value: number; text: string }> = {
  gateway: { op: '<=', value: 500, text: '<= 500 ms' },
  terminal: { op: '<=', value: 300, text: '<= 300 ms' },
};

type Times = Record<Runtime, number[]>;

async function gatewayStartup(rounds: number, release: BuiltRelease): Promise<Times> {
  const workspace = await prepareGatewayWorkspace(50);
  const times: Times = { compiled: [], loader: [] };
  try {
    for (let i = 0; i < rounds; i++) {
      for (const runtime of RUNTIMES) {
        const { launcher, env } = ciaoCommand(runtime, release);
        const t0 = performance.now();
        const proc = spawnProcess(process.execPath, [launcher, 'gateway', '--config', workspace.configPath], { cwd: REPO_ROOT, env });
        try {
          await firstJsonLine(proc, 60_000, (v) => v.event === 'gateway-ready');
          times[runtime].push(performance.now() - t0);
        } finally {
          await proc.stop(15_000);
        }
      }
    }
  } finally {
    await workspace.remove();
  }
  return times;
}

async function terminalStartup(rounds: number, release: BuiltRelease): Promise<Times> {
  const broker = await Aedes.createBroker();
  const server = createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const dir = mkdtempSync(join(REPO_ROOT, '.bench-terminal-'));
  const times: Times = { compiled: [], loader: [] };
  try {
    for (let i = 0; i < rounds; i++) {
      for (const runtime of RUNTIMES) {
        const id = `bench-start-${runtime}-${i}`;
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
        const { launcher, env } = ciaoCommand(runtime, release);
        const t0 = performance.now();
        const proc = spawnProcess(process.execPath, [launcher, 'terminal', '--config', config], { cwd: REPO_ROOT, env });
        const outcome = await Promise.race([
          subscribed.then((t) => t - t0),
          proc.exited.then((code) => new Error(`ciao terminal (${runtime}) exited (${code}) before connecting: ${proc.output().slice(-1500)}`)),
          new Promise<Error>((r) => setTimeout(() => r(new Error(`ciao terminal (${runtime}) did not connect within 60 s`)), 60_000).unref()),
        ]);
        await proc.stop(10_000);
        if (outcome instanceof Error) throw outcome;
        times[runtime].push(outcome);
      }
    }
  } finally {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

function describe(times: number[]): string {
  const s = summarise(times)!;
  return `median of ${times.length} starts; min ${Math.round(s.minMs)} ms, max ${Math.round(s.maxMs)} ms`;
}

const median = (times: number[]) => Math.round(summarise(times)!.p50Ms);

export async function runStartupBench(size: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const rounds = ROUNDS[size];
  const problems: string[] = [];
  const figures: Figure[] = [];
  const release = buildRelease();
  const details: Record<string, unknown> = { rounds, buildSeconds: Math.round(release.buildSeconds * 10) / 10 };
  try {
    const gwMissing = gatewayMissing();
    let gateway: Times | undefined;
    if (gwMissing) problems.push(`gateway: ${gwMissing}`);
    else {
      try {
        gateway = await gatewayStartup(rounds, release);
        details.gatewayMs = gateway;
      } catch (err) {
        problems.push(`gateway: ${(err as Error).message}`);
      }
    }
    const gwNote = 'MQTT and HTTP listening; database with a site, 50 terminals and 800 badges';
    figures.push(
      { name: 'gateway start-up, compiled release (spawn to MQTT and HTTP listening)', value: gateway ? median(gateway.compiled) : null, unit: 'ms', target: TARGETS.gateway, note: gateway ? `${describe(gateway.compiled)}; ${gwNote}` : gwMissing },
      { name: 'gateway start-up from the sources (loader, baseline)', value: gateway ? median(gateway.loader) : null, unit: 'ms', ...(gateway ? { note: `${describe(gateway.loader)}; same runs, alternating` } : {}) },
    );

    let terminal: Times | undefined;
    try {
      terminal = await terminalStartup(rounds, release);
      details.terminalMs = terminal;
    } catch (err) {
      problems.push(`terminal: ${(err as Error).message}`);
    }
    figures.push(
      { name: 'terminal start-up, compiled release (spawn to connected and subscribed)', value: terminal ? median(terminal.compiled) : null, unit: 'ms', target: TARGETS.terminal, ...(terminal ? { note: `${describe(terminal.compiled)}; simulated reader, console panel, a plain broker without authentication` } : {}) },
      { name: 'terminal start-up from the sources (loader, baseline)', value: terminal ? median(terminal.loader) : null, unit: 'ms', ...(terminal ? { note: `${describe(terminal.loader)}; same runs, alternating` } : {}) },
    );

    return {
      status: gateway || terminal ? 'ok' : 'failed',
      ...(problems.length ? { reason: problems.join('; ') } : {}),
      figures,
      details,
    };
  } finally {
    release.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('startup', 'start-up time', runStartupBench);
}
