/**
 * Gateway instances as a cluster (docs/cluster.md), on this one machine: 1, 2 and 3 `ciao gateway` processes
 * on one database, joined over a real Redis, behind a real HAProxy (deploy/haproxy-ciao.cfg with one server
 * line per instance), the forwarder draining to the emulator. Reported: durable ingest through HAProxy for
 * each count beside one instance reached directly (the bench's usual gateway), ack latency at 2,000 taps/s
 * on three instances, and how long the forwarder takes to move when its holder is SIGKILLed (SQLite lease,
 * then PostgreSQL lease), measured from the kill to another instance's /health saying `forwarding`.
 *
 * Everything shares two cores here: more instances cannot ingest more; the rows say what a cluster costs
 * against one gateway, not what it gains (availability). The rows on PostgreSQL wait for its storage
 * adapter and are reported as not run, with that reason.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { gatewayMissing, prepareGatewayWorkspace, spawnGateway, REPO_ROOT, type GatewayProcess, type GatewayWorkspace } from '../lib/targets.ts';
import { runLoad, type LoadResult } from '../../simulator/load/index.ts';
import { summarise } from '../../simulator/load/latency.ts';
import { serviceMissing, startHaproxy, startPostgres, startRedis, type LocalHaproxy, type LocalRedis } from '../../simulator/services/local-services.ts';

const SIZES: Record<BenchSize, { terminals: number; count: number; warmup: number; latencySeconds: number; takeovers: number }> = {
  quick: { terminals: 48, count: 20_000, warmup: 2_000, latencySeconds: 5, takeovers: 2 },
  full: { terminals: 48, count: 100_000, warmup: 5_000, latencySeconds: 20, takeovers: 5 },
};

interface Cluster {
  workspace: GatewayWorkspace;
  instances: GatewayProcess[];
  lb?: LocalHaproxy;
  url: string;
  stop(): Promise<void>;
}

/** `n` instances on one fresh workspace (one database, one emulator), each with its own config file. */
async function startCluster(n: number, terminals: number, redis: LocalRedis | undefined, o: { lease?: Record<string, unknown>; lb?: boolean } = {}): Promise<Cluster> {
  const workspace = await prepareGatewayWorkspace(terminals, REPO_ROOT, { forwarder: true, ...(o.lease ? { onss: { lease: o.lease } } : {}) });
  const instances: GatewayProcess[] = [];
  let lb: LocalHaproxy | undefined;
  try {
    const base = JSON.parse(readFileSync(workspace.configPath, 'utf8')) as Record<string, unknown>;
    for (let i = 1; i <= n; i++) {
      const file = join(workspace.dir, `gateway-${i}.json`);
      writeFileSync(file, JSON.stringify({ ...base, ...(redis ? { cluster: { redis: redis.url, instance: `gw-${i}` } } : {}) }));
      instances.push(await spawnGateway(file));
    }
    if (o.lb) {
      const { freePort } = await import('../../simulator/world/free-port.ts');
      const port = await freePort();
      const servers = instances.map((g, i) => `    server gw${i + 1} 127.0.0.1:${g.mqttPort} check port ${g.httpPort}`).join('\n');
      const text = readFileSync(join(REPO_ROOT, 'deploy', 'haproxy-ciao.cfg'), 'utf8').replace(/^ {4}server gw1 .*\n {4}server gw2 .*$/m, servers);
      lb = await startHaproxy({ config: { text }, env: { CIAO_LB_LISTEN: `127.0.0.1:${port}` }, listens: [{ host: '127.0.0.1', port }] });
    }
  } catch (err) {
    for (const g of instances) await g.process.stop();
    await workspace.remove();
    throw err;
  }
  return {
    workspace,
    instances,
    lb,
    url: lb ? `mqtt://127.0.0.1:${lb.port}` : `mqtt://127.0.0.1:${instances[0]!.mqttPort}`,
    stop: async () => {
      await lb?.stop();
      for (const g of instances) await g.process.stop(30_000);
      await workspace.remove();
    },
  };
}

async function ingest(c: Cluster, size: (typeof SIZES)[BenchSize], label: string): Promise<LoadResult> {
  await runLoad({ url: c.url, terminals: c.workspace.terminals, count: size.warmup, progress: false });
  return runLoad({ url: c.url, terminals: c.workspace.terminals, count: size.count, progress: { label } });
}

async function forwarderRole(g: GatewayProcess): Promise<string | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${g.httpPort}/health`, { signal: AbortSignal.timeout(1000) });
    return ((await r.json()) as { forwarder?: string }).forwarder;
  } catch {
    return undefined;
  }
}

/** Kills the holder of the forwarder lease and times until another instance forwards; `rounds` times. */
async function takeovers(c: Cluster, rounds: number): Promise<number[]> {
  const times: number[] = [];
  const alive = new Set(c.instances);
  for (let r = 0; r < rounds; r++) {
    let holder: GatewayProcess | undefined;
    const deadline = Date.now() + 60_000;
    while (!holder && Date.now() < deadline) {
      for (const g of alive) if ((await forwarderRole(g)) === 'forwarding') holder = g;
      if (!holder) await new Promise((res) => setTimeout(res, 50));
    }
    if (!holder) throw new Error('no instance took the forwarder lease within 60 s');
    const killedAt = performance.now();
    // SIGKILL to its process group, as a crash would.
    process.kill(-holder.process.child.pid!, 'SIGKILL');
    await holder.process.exited;
    alive.delete(holder);
    let next: GatewayProcess | undefined;
    while (!next) {
      if (performance.now() - killedAt > 60_000) throw new Error('no instance took over the forwarder within 60 s');
      for (const g of alive) if ((await forwarderRole(g)) === 'forwarding') next = g;
      if (!next) await new Promise((res) => setTimeout(res, 20));
    }
    times.push(performance.now() - killedAt);
    // The killed instance comes back as a standby, so that every round has two to choose from.
    const file = join(c.workspace.dir, `gateway-${c.instances.indexOf(holder) + 1}.json`);
    const again = await spawnGateway(file);
    c.instances[c.instances.indexOf(holder)] = again;
    alive.add(again);
  }
  return times;
}

const median = (xs: number[]) => summarise(xs)?.p50Ms ?? null;
const round1 = (x: number | null | undefined) => (x === null || x === undefined ? null : Math.round(x * 10) / 10);

export async function runClusterBench(sizeName: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const size = SIZES[sizeName];
  const missing = gatewayMissing() ?? serviceMissing('redis', 'haproxy');
  if (missing) return { status: 'not-run', reason: missing, figures: [] };
  const failures: string[] = [];
  const results: Record<string, LoadResult> = {};
  const pgNotRun = 'the gateway does not run on PostgreSQL yet: the storage adapter exists, and the ingest writer, held-tap release, fleet and the forwarder\'s writes still move onto it (docs/cluster.md, "The storage port"); the instances share a SQLite file here';
  const redis = await startRedis();
  let latency: LoadResult | undefined;
  const takeover: Record<string, number[]> = {};
  try {
    const one = await startCluster(1, size.terminals, undefined);
    try {
      results.direct = await ingest(one, size, 'cluster: 1 instance, direct');
    } finally {
      await one.stop();
    }
    for (const n of [1, 2, 3]) {
      const c = await startCluster(n, size.terminals, redis, { lb: true });
      try {
        results[`lb${n}`] = await ingest(c, size, `cluster: ${n} instance${n > 1 ? 's' : ''} behind HAProxy`);
        if (n === 3) {
          await runLoad({ url: c.url, terminals: c.workspace.terminals, rate: 2000, duration: 2, progress: false });
          latency = await runLoad({ url: c.url, terminals: c.workspace.terminals, rate: 2000, duration: size.latencySeconds, progress: { label: 'cluster: latency, 3 instances' } });
        }
      } finally {
        await c.stop();
      }
    }
    const leases: Array<[string, () => Promise<{ lease: Record<string, unknown>; stop(): Promise<void> } | undefined>]> = [
      ['sqlite', async () => ({ lease: { store: 'sqlite' }, stop: async () => undefined })],
      [
        'postgres',
        async () => {
          if (serviceMissing('postgresql')) return undefined;
          const pg = await startPostgres();
          return { lease: { store: 'postgres', url: pg.url }, stop: () => pg.stop() };
        },
      ],
    ];
    for (const [name, lease] of leases) {
      const l = await lease();
      if (!l) {
        failures.push(`takeover with the PostgreSQL lease: ${serviceMissing('postgresql')}`);
        continue;
      }
      const c = await startCluster(3, 6, redis, { lease: l.lease });
      try {
        takeover[name] = await takeovers(c, size.takeovers);
      } catch (err) {
        failures.push(`takeover (${name} lease): ${(err as Error).message}`);
      } finally {
        await c.stop();
        await l.stop();
      }
    }
  } catch (err) {
    failures.push((err as Error).message);
  } finally {
    await redis.stop();
  }
  for (const [k, r] of Object.entries(results)) if (r.unacked > 0) failures.push(`${k}: ${r.unacked} taps unacked`);
  const rate = (k: string) => results[k]?.ackedPerSecond ?? null;
  const ratio = (k: string) => (rate(k) !== null && rate('direct') ? Math.round((rate(k)! / rate('direct')!) * 100) / 100 : null);
  const figures: Figure[] = [
    { name: 'cluster: durable ingest, 1 instance on SQLite, direct', value: rate('direct'), unit: 'taps/s', note: `${size.terminals} terminals, ${size.count.toLocaleString('en-US')} taps, forwarder on` },
    ...[1, 2, 3].map((n) => ({ name: `cluster: durable ingest, ${n} instance${n > 1 ? 's' : ''} on one SQLite file over Redis, through HAProxy`, value: rate(`lb${n}`), unit: 'taps/s', note: `${ratio(`lb${n}`) ?? '-'}x the direct instance` })),
    ...[1, 2, 3].map((n) => ({ name: `cluster: durable ingest, ${n} instance${n > 1 ? 's' : ''} on PostgreSQL`, value: null, unit: 'taps/s', note: pgNotRun })),
    { name: 'cluster: ack latency p99 at 2,000 taps/s, 3 instances through HAProxy', value: latency?.latencyMs?.p99Ms ?? null, unit: 'ms', ...(latency?.latencyMs ? { note: `p50 ${latency.latencyMs.p50Ms} ms; achieved ${latency.ackedPerSecond.toLocaleString('en-US')} taps/s` } : {}) },
    { name: 'cluster: forwarder takeover after SIGKILL of its holder, SQLite lease (median)', value: round1(median(takeover.sqlite ?? [])), unit: 'ms', note: takeover.sqlite ? `each: ${takeover.sqlite.map((t) => Math.round(t)).join(', ')} ms` : 'not measured' },
    { name: 'cluster: forwarder takeover after SIGKILL of its holder, PostgreSQL lease (median)', value: round1(median(takeover.postgres ?? [])), unit: 'ms', note: takeover.postgres ? `each: ${takeover.postgres.map((t) => Math.round(t)).join(', ')} ms` : 'not measured' },
  ];
  return {
    status: Object.keys(results).length ? 'ok' : 'failed',
    ...(failures.length ? { reason: failures.join('; ') } : {}),
    figures,
    details: { size: { name: sizeName, ...size }, results, latency, takeover },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('cluster', 'gateway instances as a cluster', runClusterBench);
}
