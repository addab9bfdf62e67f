import net from 'node:net';

/**
 * A TCP proxy on loopback that can cut, stall and restore the link between a terminal and the gateway:
 * the network faults of the simulator and the chaos suite, made real at the socket level.
 * - cut: every open connection is destroyed and new ones are refused until restore;
 * - stall: connections stay open but no byte moves in either direction until restore (a dead Wi-Fi);
 * - restore: back to normal; bytes held during a stall flow again.
 */
export type LinkState = 'up' | 'cut' | 'stalled';

export interface TcpProxy {
  readonly port: number;
  readonly state: LinkState;
  /** Connections accepted since the proxy started. */
  readonly connections: number;
  cut(): void;
  stall(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host?: string; port: number }, listen: { host?: string; port?: number } = {}): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  let state: LinkState = 'up';
  let connections = 0;
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();

  const server = net.createServer((client) => {
    if (state === 'cut') {
      client.destroy();
      return;
    }
    connections++;
    const upstream = net.connect({ host, port: target.port });
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    if (state === 'stalled') pausePair(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });

  function pausePair(pair: { client: net.Socket; upstream: net.Socket }) {
    pair.client.pause();
    pair.upstream.pause();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port ?? 0, listen.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    get state() {
      return state;
    },
    get connections() {
      return connections;
    },
    cut() {
      state = 'cut';
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
    },
    stall() {
      state = 'stalled';
      for (const pair of pairs) pausePair(pair);
    },
    restore() {
      state = 'up';
      for (const pair of pairs) {
        pair.client.resume();
        pair.upstream.resume();
      }
    },
    close() {
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
