import { loadGatewayConfig } from './config.ts';
import { startGateway, type StartGatewayOptions } from './main.ts';

/**
 * `ciao gateway --config FILE`: start, then stop cleanly on SIGTERM or SIGINT (stop accepting, flush the
 * commit group, close). Resolves when the gateway has stopped.
 *
 * A gateway that cannot start (bad config, unreadable file, port taken, database locked) says why on stderr
 * and the process exits with code 1 at once, so that systemd's `Restart=on-failure` sees it: whatever the
 * failed start left behind (a timer, a thread) must not keep a half-started gateway alive.
 */
export async function runGatewayFromFile(file: string, options: StartGatewayOptions = {}): Promise<void> {
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway(loadGatewayConfig(file), options);
  } catch (err) {
    process.stderr.write(`ciao gateway: could not start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  // One line on stdout that scripts and tests can wait for.
  process.stdout.write(`${JSON.stringify({ event: 'gateway-ready', mqttPort: gateway.mqttPort, tlsPort: gateway.tlsPort ?? null, wsPort: gateway.wsPort ?? null, httpPort: gateway.httpPort, pairingPort: gateway.pairingPort ?? null, console: `http://${gateway.config.http.host}:${gateway.httpPort}/console/` })}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      gateway.stop().then(resolve, (err: unknown) => {
        process.stderr.write(`ciao: error while stopping: ${(err as Error).message}\n`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
