import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { SqlStore } from '../store/sql-store.ts';

/**
 * Live updates for the console, as server-sent events (`GET /api/v1/events`). The stream carries no data
 * of its own, only which kinds of things changed (`terminals`, `presence`, `remarks`, `site-data`, `audit`);
 * the console then reads them through the ordinary routes, with the caller's scope. So a stream leaks
 * nothing a user could not read, and a missed event is harmless: the next read is whole.
 *
 * One poll of a few indexed aggregates every `pollMs` serves every open stream, and runs only while one is
 * open. `ciao admin` in another process changes the database directly, so a poll (not an in-process
 * emitter) is what sees every change. A stream starts with `hello` (the console reloads everything: that
 * is how it catches up after a gateway restart) and carries a comment every 15 s so proxies keep it open.
 */
const CHANGE_KINDS = ['terminals', 'presence', 'remarks', 'site-data', 'audit'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

type Fingerprint = Record<ChangeKind, string>;

export class ChangeFeed {
  private readonly streams = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private last: Fingerprint | undefined;

  constructor(private readonly store: SqlStore, private readonly opts: { pollMs?: number; heartbeatMs?: number } = {}) {}

  private async fingerprint(): Promise<Fingerprint> {
    const one = async (sql: string) => JSON.stringify(await this.store.one(sql));
    return {
      terminals: await one('SELECT max(updated_at) AS a, count(*) AS b, (SELECT sum(config_version) FROM terminals) AS c FROM terminal_status'),
      presence: await one('SELECT max(seq) AS a FROM registrations'),
      remarks: await one("SELECT count(*) AS a, max(received_at) AS b FROM taps WHERE enrichment <> 'enriched'"),
      'site-data': await one('SELECT version AS a FROM site_data_version WHERE id = 1'),
      audit: await one('SELECT max(id) AS a FROM audit_log'),
    };
  }

  private send(res: ServerResponse, event: string, data: unknown): void {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** One poll at a time: a slow database skips a turn rather than stacking reads. */
  private polling = false;

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    let now: Fingerprint;
    try {
      now = await this.fingerprint();
    } catch {
      return; // a locked or closing database: the next poll tells
    } finally {
      this.polling = false;
    }
    const before = this.last;
    this.last = now;
    if (!before) return;
    const kinds = CHANGE_KINDS.filter((k) => before[k] !== now[k]);
    if (kinds.length) for (const res of this.streams) this.send(res, 'change', { kinds });
  }

  subscribe(res: ServerResponse): void {
    this.streams.add(res);
    this.send(res, 'hello', { kinds: CHANGE_KINDS });
    if (!this.timer) {
      this.last = undefined;
      void this.poll();
      this.timer = setInterval(() => void this.poll(), this.opts.pollMs ?? 1000);
      this.timer.unref();
      this.heartbeat = setInterval(() => {
        for (const r of this.streams) r.write(': keep-alive\n\n');
      }, this.opts.heartbeatMs ?? 15_000);
      this.heartbeat.unref();
    }
    res.on('close', () => this.unsubscribe(res));
  }

  private unsubscribe(res: ServerResponse): void {
    this.streams.delete(res);
    if (this.streams.size === 0) this.stopPolling();
  }

  private stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = undefined;
    this.heartbeat = undefined;
  }

  /** Ends every stream (the server is closing: open streams would hold it open). */
  close(): void {
    for (const res of this.streams) res.end();
    this.streams.clear();
    this.stopPolling();
  }

  get subscribers(): number {
    return this.streams.size;
  }
}

export async function eventRoutes(app: FastifyInstance, opts: { feed: ChangeFeed; prefix: string }): Promise<void> {
  app.addHook('preClose', async () => opts.feed.close());
  app.get(`${opts.prefix}/events`, {
    schema: {
      summary: 'Server-sent events: which kinds of data changed (terminals, presence, remarks, site-data, audit); read them again through their routes',
      tags: ['live'],
      security: [{ bearerAuth: [] }],
      produces: ['text/event-stream'],
    },
  }, async (_r, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    reply.raw.write('retry: 2000\n\n');
    opts.feed.subscribe(reply.raw);
  });
}
