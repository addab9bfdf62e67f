import { connect, createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freePort } from '../../simulator/world/free-port.ts';
import { redisPing, serviceMissing, startHaproxy, startPostgres, startRedis, tcpAnswers, type LocalService } from '../../simulator/services/local-services.ts';

/**
 * The real PostgreSQL, Redis and HAProxy the cluster tests and benchmarks start (simulator/services/local-services.ts):
 * each answers on loopback once started, survives what it must (PostgreSQL a SIGKILL, its committed rows
 * intact), and leaves no process behind when stopped or killed.
 */
const started: LocalService[] = [];
afterAll(async () => {
  for (const s of started) await s.stop();
});

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

const noPostgres = serviceMissing('postgresql');
describe.skipIf(noPostgres !== undefined)(`PostgreSQL as a local process${noPostgres ? ` (skipped: ${noPostgres})` : ''}`, () => {
  it('answers SQL, keeps committed rows across a SIGKILL and a restart, and stops cleanly', async () => {
    const db = await startPostgres();
    started.push(db);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('CREATE TABLE taps (id text PRIMARY KEY)');
    await client.query("INSERT INTO taps VALUES ('t-1'), ('t-2')");
    await client.end().catch(() => undefined);

    const pid = db.pid;
    await db.kill();
    expect(db.alive).toBe(false);
    expect(processGone(pid)).toBe(true);
    expect(await tcpAnswers(db.host, db.port)).toBe(false);

    await db.restart();
    const again = new pg.Client({ connectionString: db.url });
    await again.connect();
    const rows = await again.query<{ id: string }>('SELECT id FROM taps ORDER BY id');
    expect(rows.rows.map((r) => r.id)).toEqual(['t-1', 't-2']);
    const who = await again.query<{ current_user: string; current_database: string }>('SELECT current_user, current_database()');
    expect(who.rows[0]).toEqual({ current_user: 'ciao', current_database: 'ciao' });
    await again.end();

    await db.stop();
    expect(db.alive).toBe(false);
  });
});

const noRedis = serviceMissing('redis');
describe.skipIf(noRedis !== undefined)(`Redis as a local process${noRedis ? ` (skipped: ${noRedis})` : ''}`, () => {
  it('answers PING, and nothing answers once it is killed', async () => {
    const redis = await startRedis();
    started.push(redis);
    expect(await redisPing(redis.host, redis.port)).toBe(true);
    const pid = redis.pid;
    await redis.kill();
    expect(processGone(pid)).toBe(true);
    expect(await redisPing(redis.host, redis.port)).toBe(false);
  });
});

const noHaproxy = serviceMissing('haproxy');
describe.skipIf(noHaproxy !== undefined)(`HAProxy as a local process${noHaproxy ? ` (skipped: ${noHaproxy})` : ''}`, () => {
  let echo: Server;
  afterAll(() => new Promise<void>((r) => (echo ? echo.close(() => r()) : r())));

  it('forwards TCP to its backend, refuses a bad configuration, and is gone once killed', async () => {
    echo = createServer((s) => {
      // HAProxy may reset its connection to the backend (when the client goes, or when it is killed).
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const backend = (echo.address() as { port: number }).port;
    const front = await freePort();
    const text = [
      'global', '  maxconn 100',
      'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 10s', '  timeout server 10s',
      'frontend echo', '  bind "127.0.0.1:${FRONT_PORT}"', '  default_backend echo',
      'backend echo', '  server e1 "127.0.0.1:${BACKEND_PORT}"',
    ].join('\n') + '\n';
    await expect(startHaproxy({ config: { text: text.replace('mode tcp', 'mode nonsense') }, env: { FRONT_PORT: String(front), BACKEND_PORT: String(backend) }, listens: [{ host: '127.0.0.1', port: front }] }))
      .rejects.toThrow(/haproxy -c refused/);

    const lb = await startHaproxy({ config: { text }, env: { FRONT_PORT: String(front), BACKEND_PORT: String(backend) }, listens: [{ host: '127.0.0.1', port: front }] });
    started.push(lb);
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: front });
      let got = '';
      s.on('data', (b) => {
        got += b.toString('utf8');
        if (got.length >= 5) {
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', reject);
      s.write('hello');
    });
    expect(answer).toBe('hello');
    const pid = lb.pid;
    await lb.kill();
    expect(processGone(pid)).toBe(true);
    expect(await tcpAnswers('127.0.0.1', front)).toBe(false);
  });
});
