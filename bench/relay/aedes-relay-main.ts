/**
 * Child process of the relay benchmark: plain Aedes on a loopback port chosen by the system. Prints one JSON
 * line `{"url": ...}` on stdout when it listens, and stops on SIGTERM or SIGINT.
 * Usage: node --import tsx bench/relay/aedes-relay-main.ts
 */
import { startPlainAedes } from './aedes-broker.ts';

const broker = await startPlainAedes();
process.stdout.write(`${JSON.stringify({ url: broker.url, pid: process.pid })}\n`);
const stop = async () => {
  await broker.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
