import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { VirtualClock } from '../../shared/clock.ts';
import { parseTerminalConfig } from '../../terminal/config.ts';
import { runInteractiveSim, type SimReaderKind } from '../device-ui/interactive-sim.ts';
import { demoBadges } from '../device-ui/badges.ts';
import { startWorld } from '../world/world.ts';
import { DEMO_SITES, DEMO_TERMINALS } from '../world/seed-data.ts';

/**
 * `ciao demo`: the ONSS emulator, the gateway (with its dashboard) and two background terminals run on
 * loopback; this window becomes the third terminal, the Tilleuls entrance, driven from the keyboard.
 * Data lives in `dir` and is reused by the next run; `reset` starts from a fresh world.
 */
export interface InteractiveDemoOptions {
  dir: string;
  reset?: boolean;
  ports: { mqtt: number; http: number; onss: number };
  reader?: SimReaderKind;
  out?: NodeJS.WritableStream;
}

/** The preferred port when it is free, else any free port: a second demo or a local broker must not stop the first run. */
async function portOrFree(preferred: number): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | null>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(null));
      s.listen(port, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
  return (preferred > 0 ? await tryListen(preferred) : null) ?? ((await tryListen(0)) as number);
}

export async function runDemoInteractive(options: InteractiveDemoOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  if (options.reset) rmSync(options.dir, { recursive: true, force: true });
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const [mqtt, http, onss] = [await portOrFree(options.ports.mqtt), await portOrFree(options.ports.http), await portOrFree(options.ports.onss)];
  const interactiveKey = DEMO_TERMINALS[0]!.key;
  const world = await startWorld({
    dir: options.dir,
    ports: { mqtt, http, emulator: onss },
    terminals: DEMO_TERMINALS.slice(1).map((t) => t.key),
  });
  const site = DEMO_SITES.find((s) => s.key === DEMO_TERMINALS[0]!.site)!;
  out.write(
    [
      '',
      'ciao-badge demo',
      `  data             ${options.dir}  (the next run reuses it; --reset starts fresh)`,
      `  ONSS emulator    ${world.emulator.url}  (what ONSS received: ${world.emulator.url}/admin/registrations)`,
      `  gateway (MQTT)   mqtt://127.0.0.1:${world.mqttPort}`,
      `  console          ${world.consoleUrl}  (edit the demo world: workers, badges, terminals)`,
      `  dashboard        ${world.dashboardUrl}`,
      `  terminals        ${interactiveKey} (this window), ${DEMO_TERMINALS.slice(1).map((t) => t.key).join(', ')} (in the background)`,
      `  logs             ${join(options.dir, 'logs')}`,
      '',
      '',
    ].join('\n'),
  );

  const secrets = JSON.parse(readFileSync(join(options.dir, 'terminal-secrets.json'), 'utf8')) as Record<string, string>;
  const config = parseTerminalConfig(
    {
      id: interactiveKey,
      secret: secrets[interactiveKey],
      mqtt: { url: `mqtt://127.0.0.1:${world.mqttPort}` },
      reader: 'simulated',
      panel: 'console',
      outbox: join(options.dir, 'terminals', `${interactiveKey}.db`),
      reconnectMinMs: 200,
      reconnectMaxMs: 2_000,
      statusIntervalSeconds: 10,
    },
    {},
  );
  try {
    const result = await runInteractiveSim({
      config,
      badges: demoBadges(),
      reader: options.reader ?? 'simulated',
      clock: new VirtualClock(new Date(), 1),
      title: `ciao-badge demo · ${site.name} — entrance · dashboard ${world.dashboardUrl.replace(/#.*/, '')}`,
      logFile: join(options.dir, 'logs', `terminal-${interactiveKey}.log`),
    });
    out.write(`\nstopping: ${result.queued} tap(s) still queued on ${interactiveKey} go out on the next run\n`);
  } finally {
    // The keyboard was read in raw mode: let go of it, or the process would wait for more keys.
    process.stdin.pause();
    await world.stop();
  }
  out.write('demo stopped\n');
  return 0;
}
