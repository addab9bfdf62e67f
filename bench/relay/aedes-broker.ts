import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';

/** Plain Aedes on loopback, port chosen by the system: no authentication, no persistence beyond memory. */
export interface PlainBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startPlainAedes(host = '127.0.0.1', port = 0): Promise<PlainBroker> {
  const broker = await Aedes.createBroker();
  const server = createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `mqtt://${host}:${actual}`,
    port: actual,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
