import { InvalidArgumentError, type Command } from 'commander';

const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};
const port = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535');
  return n;
};

export function register(program: Command): void {
  program
    .command('demo')
    .description('Run the emulator, the gateway and simulated terminals on loopback with demo data (= npm start)')
    .option('--dir <dir>', 'data directory (SQLite files, keys, logs)', '.ciao-demo')
    .option('--reset', 'start from a fresh demo world instead of reusing the data directory')
    .option('--headless', 'play a scripted day at speed instead of the interactive terminal, print a JSON summary')
    .option('--duration <seconds>', 'with --headless: how long the scripted day takes', positive('--duration'), 30)
    .option('--reader <kind>', 'interactive terminal reader: simulated, or vpcd (the real PC/SC path with a virtual card)', 'simulated')
    .option('--mqtt-port <n>', 'gateway MQTT port (a busy port falls back to a free one)', port, 1883)
    .option('--http-port <n>', 'gateway HTTP port: dashboard, admin API, metrics', port, 8080)
    .option('--onss-port <n>', 'ONSS emulator port', port, 8090)
    .addHelpText(
      'after',
      `
Interactive (default): this window becomes the Tilleuls entrance terminal; keys present badges (1-6, 0 for an
unknown one), press IN / OUT / BREAK (i, o, b), cut the network (n), move the clock (+, -); q or Ctrl-C stops
everything. The dashboard URL printed at start logs you in as the demo administrator.

Headless: plays simulator/scenarios/days/demo-day.json and prints one JSON line
  {"taps","stored","forwarded","rejected","remarks","lost","duplicates",...}
exiting 1 if anything was lost or duplicated or an expected remark is missing.`,
    )
    .action(async (o: { dir: string; reset?: boolean; headless?: boolean; duration: number; reader: string; mqttPort: number; httpPort: number; onssPort: number }) => {
      if (o.reader !== 'simulated' && o.reader !== 'vpcd') throw new InvalidArgumentError('--reader must be simulated or vpcd');
      if (o.headless) {
        const { runDemoHeadless } = await import('../../simulator/demo/headless.ts');
        process.exitCode = await runDemoHeadless({ dir: o.dir, durationSeconds: o.duration });
        return;
      }
      const { runDemoInteractive } = await import('../../simulator/demo/interactive.ts');
      process.exitCode = await runDemoInteractive({ dir: o.dir, reset: o.reset, reader: o.reader, ports: { mqtt: o.mqttPort, http: o.httpPort, onss: o.onssPort } });
    });
}
