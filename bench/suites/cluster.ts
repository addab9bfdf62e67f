/**
 * Gateway instances as a cluster (docs/cluster.md), on this one machine: 1, 2 and 3 `ciao gateway` processes
 * on one database, joined over a real Redis, behind a real HAProxy (deploy/haproxy-ciao.cfg with one server
 * line per instance), the forwarder draining to the emulator. The database is a real local PostgreSQL (fsync
 * on, as deployed; the forwarder lease its advisory lock), and for comparison a SQLite file the instances
 * share. Reported: durable ingest through HAProxy for each count beside one instance on SQLite reached
 * directly (the bench's usual gateway), ack latency at 2,000 taps/s on three instances on PostgreSQL, and how
 * long the forwarder takes to move when its holder is SIGKILLed (PostgreSQL store and lease, then a SQLite
 * file's lease row), measured from the kill to another instance's /health saying `forwarding`.
 *
 * Everything shares two cores here (PostgreSQL too): more instances cannot ingest more; the rows say what a
 * cluster costs against one gateway, not what it gains (availability).
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
async function startCluster(n: number, terminals: number, redis: LocalRedis | undefined, o: { lease?: Record<string, unknown>; lb?: boolean; postgresUrl?: string } = {}): Promise<Cluster> {
  const workspace = await prepareGatewayWorkspace(terminals, REPO_ROOT, { forwarder: true, ...(o.lease ? { onss: { lease: o.lease } } : {}), ...(o.postgresUrl ? { postgresUrl: o.postgresUrl } : {}) });
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
  const pgMissing = serviceMissing('postgresql');
  if (pgMissing) failures.push(`the rows on PostgreSQL: ${pgMissing}`);
  const redis = await startRedis();
  // fsync on (PostgreSQL's default), as deployed: the ingest rows are durable on both databases.
  const postgres = pgMissing ? undefined : await startPostgres();
  let latency: LoadResult | undefined;
  const takeover: Record<string, number[]> = {};
  try {
    const one = await startCluster(1, size.terminals, undefined);
    try {
      results.direct = await ingest(one, size, 'cluster: 1 instance on SQLite, direct');
    } finally {
      await one.stop();
    }
    for (const store of ['postgres', 'sqlite'] as const) {
      if (store === 'postgres' && !postgres) continue;
      for (const n of [1, 2, 3]) {
        const postgresUrl = store === 'postgres' ? await postgres!.createDatabase(`bench_cluster_${n}`) : undefined;
        const c = await startCluster(n, size.terminals, redis, { lb: true, ...(postgresUrl ? { postgresUrl } : {}) });
        try {
          results[`${store}${n}`] = await ingest(c, size, `cluster: ${n} instance${n > 1 ? 's' : ''} on ${store === 'postgres' ? 'PostgreSQL' : 'one SQLite file'} behind HAProxy`);
          if (n === 3 && store === 'postgres') {
            await runLoad({ url: c.url, terminals: c.workspace.terminals, rate: 2000, duration: 2, progress: false });
            latency = await runLoad({ url: c.url, terminals: c.workspace.terminals, rate: 2000, duration: size.latencySeconds, progress: { label: 'cluster: latency, 3 instances on PostgreSQL' } });
          }
        } finally {
          await c.stop();
        }
      }
    }
    const takeoverSetups: Array<[string, () => Promise<{ lease?: Record<string, unknown>; postgresUrl?: string } | undefined>]> = [
      // On PostgreSQL the lease is the advisory lock of the gateways' own database (the config's default).
      ['postgres', async () => (postgres ? { postgresUrl: await postgres.createDatabase('bench_takeover') } : undefined)],
      ['sqlite', async () => ({ lease: { store: 'sqlite' } })],
    ];
    for (const [name, setup] of takeoverSetups) {
      const s = await setup();
      if (!s) continue;
      const c = await startCluster(3, 6, redis, s);
      try {
        takeover[name] = await takeovers(c, size.takeovers);
      } catch (err) {
        failures.push(`takeover (${name}): ${(err as Error).message}`);
      } finally {
        await c.stop();
      }
    }
  } catch (err) {
    failures.push((err as Error).message);
  } finally {
    await redis.stop();
    await postgres?.stop();
  }
  for (const [k, r] of Object.entries(results)) if (r.unacked > 0) failures.push(`${k}: ${r.unacked} taps unacked`);
  const rate = (k: string) => results[k]?.ackedPerSecond ?? null;
  const ratio = (k: string) => (rate(k) !== null && rate('direct') ? Math.round((rate(k)! / rate('direct')!) * 100) / 100 : null);
  const instances = (n: number) => `${n} instance${n > 1 ? 's' : ''}`;
  const figures: Figure[] = [
    { name: 'cluster: durable ingest, 1 instance on SQLite, direct', value: rate('direct'), unit: 'taps/s', note: `${size.terminals} terminals, ${size.count.toLocaleString('en-US')} taps, forwarder on` },
    ...[1, 2, 3].map((n) => ({ name: `cluster: durable ingest, ${instances(n)} on PostgreSQL over Redis, through HAProxy`, value: rate(`postgres${n}`), unit: 'taps/s', note: postgres ? `${ratio(`postgres${n}`) ?? '-'}x the direct instance on SQLite` : `not run: ${pgMissing}` })),
    ...[1, 2, 3].map((n) => ({ name: `cluster: durable ingest, ${instances(n)} on one SQLite file over Redis, through HAProxy`, value: rate(`sqlite${n}`), unit: 'taps/s', note: `${ratio(`sqlite${n}`) ?? '-'}x the direct instance` })),
    { name: 'cluster: ack latency p99 at 2,000 taps/s, 3 instances on PostgreSQL through HAProxy', value: latency?.latencyMs?.p99Ms ?? null, unit: 'ms', ...(latency?.latencyMs ? { note: `p50 ${latency.latencyMs.p50Ms} ms; achieved ${latency.ackedPerSecond.toLocaleString('en-US')} taps/s` } : {}) },
    { name: 'cluster: forwarder takeover after SIGKILL of its holder, PostgreSQL store and advisory lock (median)', value: round1(median(takeover.postgres ?? [])), unit: 'ms', note: takeover.postgres ? `each: ${takeover.postgres.map((t) => Math.round(t)).join(', ')} ms` : 'not measured' },
    { name: 'cluster: forwarder takeover after SIGKILL of its holder, SQLite file and lease row (median)', value: round1(median(takeover.sqlite ?? [])), unit: 'ms', note: takeover.sqlite ? `each: ${takeover.sqlite.map((t) => Math.round(t)).join(', ')} ms` : 'not measured' },
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
