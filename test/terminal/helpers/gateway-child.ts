import { startTestGateway } from '../../../simulator/stand-in-gateway/stand-in-gateway.ts';

/**
 * The test gateway in its own process (benchmarks measure the terminal's memory alone).
 * argv: dbPath secretsJson [port]. Prints {"port":N} once listening; stdin `stats` prints {"stored":N}.
 */
const [dbPath, secretsJson, port] = process.argv.slice(2);
const gw = await startTestGateway({ dbPath: dbPath!, secrets: JSON.parse(secretsJson!), port: port ? Number(port) : 0 });
process.stdout.write(`${JSON.stringify({ port: gw.port })}\n`);
process.stdin.on('data', (d) => {
  if (d.toString().includes('stats')) process.stdout.write(`${JSON.stringify({ stored: gw.storedCount(), receipts: gw.receipts })}\n`);
});
process.on('SIGTERM', () => void gw.close().then(() => process.exit(0)));
