import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AuthenticateError } from 'aedes';
import { openDatabase, type Db } from '../../shared/sqlite.ts';
import { decodeTap, type Roster, type ShiftsMessage, type TerminalConfig } from '../../shared/mqtt/payloads.ts';
import { checkPublish, checkSubscribe, topicFor } from '../../shared/mqtt/topics.ts';
import { toOffsetIso } from '../../shared/time.ts';

/**
 * A stand-in gateway for terminal tests: a real Aedes broker with the v1 ACL, and an ack responder that
 * follows the ack rule: each tap is committed to a real SQLite file (WAL, synchronous=FULL) before `stored`
 * is sent; a repeated id is acked again and stored once; malformed taps are `rejected` with a reason.
 */
export interface TestGatewayOptions {
  dbPath: string;
  secrets: Record<string, string>;
  /** Listen on this port (a restarted gateway reuses its port); 0 = ephemeral. */
  port?: number;
  /** Shifts the gateway clock sent in acks (to give the terminal a skew). */
  clockOffsetMs?: number;
  /** When false, taps are received and stored but never acked (a gateway that stalls). */
  ack?: boolean;
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Short LCD text to put in every `stored` ack. */
  ackDisplay?: string;
}

export interface StoredTap {
  arrival: number;
  id: string;
  terminal: string;
  seq: number;
  payload: string;
}

export class TestGateway {
  readonly db: Db;
  broker!: Aedes;
  server!: Server;
  port = 0;
  /** Every tap publish seen, duplicates included. */
  receipts = 0;
  readonly statuses: Array<{ terminal: string; payload: Record<string, unknown>; retain: boolean }> = [];
  private readonly insert;
  private readonly count;

  constructor(private readonly o: TestGatewayOptions) {
    this.db = openDatabase(o.dbPath);
    this.db.exec(`CREATE TABLE IF NOT EXISTS taps (arrival INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, terminal TEXT NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL);
                  CREATE TABLE IF NOT EXISTS quarantine (n INTEGER PRIMARY KEY AUTOINCREMENT, terminal TEXT, reason TEXT, payload BLOB)`);
    this.insert = this.db.prepare('INSERT OR IGNORE INTO taps (id, terminal, seq, payload) VALUES (?, ?, ?, ?)');
    this.count = this.db.prepare('SELECT count(*) AS n FROM taps');
  }

  get url(): string {
    return `${this.o.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        const ok = !!client.id && username === client.id && password !== undefined && this.o.secrets[client.id] === password.toString();
        if (ok) return done(null, true);
        const err = new Error('bad credentials') as AuthenticateError;
        err.returnCode = 4;
        done(err, null);
      },
      authorizePublish: (client, packet, cb) => {
        if (!client) return cb(null);
        cb(checkPublish(client.id, packet.topic).ok ? null : new Error('not allowed'));
      },
      authorizeSubscribe: (client, sub, cb) => {
        cb(checkSubscribe(client.id, sub.topic).ok ? null : new Error('not allowed'), sub);
      },
    });
    this.broker.on('publish', (packet, client) => {
      if (!client) return;
      try {
        if (packet.topic.endsWith('/taps')) this.onTap(client.id, packet.payload as Buffer);
        else if (packet.topic.endsWith('/status')) {
          this.statuses.push({ terminal: client.id, payload: JSON.parse(packet.payload.toString()), retain: packet.retain });
        }
      } catch {
        // A malformed message must never take the broker down.
      }
    });
    const handle = (socket: import('node:net').Socket) => {
      socket.setNoDelay(true);
      this.broker.handle(socket);
    };
    this.server = this.o.tls ? (createTlsServer(this.o.tls, handle) as unknown as Server) : createServer(handle);
    this.server.listen(this.o.port ?? 0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  private onTap(terminal: string, payload: Buffer): void {
    this.receipts += 1;
    const decoded = decodeTap(payload);
    const now = toOffsetIso(new Date(Date.now() + (this.o.clockOffsetMs ?? 0)));
    if (!decoded.ok) {
      this.db.prepare('INSERT INTO quarantine (terminal, reason, payload) VALUES (?, ?, ?)').run(terminal, decoded.reason, payload);
      if (decoded.id && this.o.ack !== false) this.sendAck(terminal, { id: decoded.id, status: 'rejected', reason: decoded.reason, problems: decoded.problems, now });
      return;
    }
    const tap = decoded.value;
    this.batch.push({ terminal, id: tap.id, seq: tap.seq, payload: payload.toString() });
    if (this.batch.length === 1) setImmediate(() => this.commitBatch());
  }

  /** Group commit: one durable transaction for every tap that arrived in this turn, then the acks. */
  private batch: Array<{ terminal: string; id: string; seq: number; payload: string }> = [];
  private commitBatch(): void {
    const batch = this.batch;
    this.batch = [];
    if (!this.db.open) return;
    this.db.transaction(() => {
      for (const t of batch) this.insert.run(t.id, t.terminal, t.seq, t.payload);
    })();
    if (this.o.ack === false) return;
    const now = toOffsetIso(new Date(Date.now() + (this.o.clockOffsetMs ?? 0)));
    for (const t of batch) this.sendAck(t.terminal, { id: t.id, status: 'stored', now, ...(this.o.ackDisplay ? { display: this.o.ackDisplay } : {}) });
  }

  private sendAck(terminal: string, ack: Record<string, unknown>): void {
    this.broker.publish({ cmd: 'publish', topic: topicFor(terminal, 'acks'), payload: Buffer.from(JSON.stringify(ack)), qos: 1, retain: false, dup: false }, () => {});
  }

  publishRetained(terminal: string, kind: 'config' | 'roster', body: TerminalConfig | Roster | Record<string, unknown>): Promise<void> {
    return new Promise((resolve, reject) =>
      this.broker.publish({ cmd: 'publish', topic: topicFor(terminal, kind), payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: true, dup: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** A `shifts` message (QoS 1, not retained), as the gateway sends after a commit changed workers' states. */
  publishShifts(terminal: string, body: ShiftsMessage | Record<string, unknown>): Promise<void> {
    return new Promise((resolve, reject) =>
      this.broker.publish({ cmd: 'publish', topic: topicFor(terminal, 'shifts'), payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false, dup: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  storedCount(): number {
    return (this.count.get() as { n: number }).n;
  }

  stored(terminal?: string): StoredTap[] {
    return (terminal
      ? this.db.prepare('SELECT * FROM taps WHERE terminal = ? ORDER BY arrival').all(terminal)
      : this.db.prepare('SELECT * FROM taps ORDER BY arrival').all()) as StoredTap[];
  }

  connectedClients(): number {
    return this.broker.connectedClients;
  }

  /** Stops the broker and closes every client connection (a gateway going down). */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.broker.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async close(): Promise<void> {
    await this.stop().catch(() => {});
    if (this.db.open) this.db.close();
  }
}

export async function startTestGateway(o: TestGatewayOptions): Promise<TestGateway> {
  return new TestGateway(o).start();
}

export function siteConfig(terminalId: string, overrides: Partial<TerminalConfig> = {}): TerminalConfig {
  return {
    v: 1,
    terminalId,
    site: { id: 'site-1', name: 'Site One' },
    language: 'en',
    debounceSeconds: 30,
    buttons: { enabled: ['IN', 'OUT', 'BREAK'], armSeconds: 5 },
    maxClockSkewMs: 60_000,
    serverTime: toOffsetIso(new Date()),
    ...overrides,
  };
}
