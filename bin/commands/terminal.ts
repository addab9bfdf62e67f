import type { Command } from 'commander';

export function register(program: Command): void {
  const terminal = program
    .command('terminal')
    .description('Run one badge terminal (NFC reader, panel, offline outbox, link to the gateway)')
    .option('--config <file>', 'terminal config (JSON); see docs/terminal.md (required to run)')
    .addHelpText('after', `
The secret may come from the CIAO_TERMINAL_SECRET environment variable instead of the file.
Example config:
  {"id": "T-0001", "mqtt": {"url": "mqtts://gateway.local:8883", "ca": "ca.pem"},
   "reader": "pcsc", "panel": "johnny-five", "outbox": "/var/lib/ciao/outbox.db",
   "board": {"port": "/dev/ttyACM0"}}`)
    .action(async (o: { config?: string }, cmd: Command) => {
      // Not a required option: `ciao terminal pair` runs without a config (it writes one).
      if (!o.config) cmd.error("error: required option '--config <file>' not specified", { exitCode: 1 });
      const { runTerminalFromFile } = await import('../../terminal/run.ts');
      await runTerminalFromFile(o.config!);
    });
  terminal
    .command('pair')
    .description("Pair this device with the gateway: spends the console's one-time code and writes the terminal's config file")
    .argument('<pairing>', 'the pairing string the console shows (CODE.FINGERPRINT)')
    .requiredOption('--gateway <url>', "the gateway's pairing address, e.g. https://gateway.local:8443")
    .option('--out <file>', 'config file to write', '/etc/ciao/terminal.json')
    .option('--reader <kind>', 'pcsc or simulated', 'pcsc')
    .option('--panel <kind>', 'johnny-five or console', 'johnny-five')
    .option('--board <port>', "serial port of the Arduino panel (johnny-five), e.g. /dev/ttyACM0")
    .option('--state-dir <dir>', "where the terminal writes: its identity (renewed certificates), outbox, releases; e.g. /var/lib/ciao (default: beside the config)")
    .option('--outbox <file>', 'outbox database (default: in the state folder)')
    .option('--with-secret', 'log in with a shared secret instead of a client certificate (LAN set-ups)')
    .option('--force', 'replace an existing config file')
    .action(async (pairing: string, o: { gateway: string; out: string; reader: 'pcsc' | 'simulated'; panel: 'johnny-five' | 'console'; board?: string; stateDir?: string; outbox?: string; withSecret?: boolean; force?: boolean }) => {
      const { pairTerminal } = await import('../../terminal/pairing/pair.ts');
      const { productVersion } = await import('../../shared/version.ts');
      const r = await pairTerminal({
        pairing, gateway: o.gateway, out: o.out, reader: o.reader, panel: o.panel, board: o.panel === 'johnny-five' ? o.board ?? '/dev/ttyACM0' : o.board,
        stateDir: o.stateDir, outbox: o.outbox, force: o.force, credentials: o.withSecret ? 'secret' : 'certificate', version: productVersion(),
      });
      const login = r.credentials === 'certificate' ? `client certificate ${r.identityPath} (mode 0600)` : 'secret (in the config)';
      process.stdout.write(`paired as terminal ${r.terminalId}; config written to ${r.configPath} (mode 0600), login by ${login}, CA ${r.caPath}, MQTT ${r.mqttUrl}${r.releaseKeyPath ? `, release key ${r.releaseKeyPath}` : ''}\nstart it with: ciao terminal --config ${r.configPath}\n`);
    });
}
