import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('sim')
    .description('Simulated terminal (interactive), scripted scenario (--scenario FILE), or load generator (--load)')
    .option('--load', 'run many simulated terminals publishing taps and measure the acks')
    .option('--scenario <file>', 'play a scripted day from a scenario file (docs/scenarios.md) and check its expected outcomes')
    .option('--speed <n>', 'scenario: virtual seconds per real second between steps (default: as fast as possible)')
    .option('--keep', 'scenario: keep the data directory of the run and print its path')
    .option('--config <file>', 'interactive: terminal config file (same format as ciao terminal)')
    .option('--id <id>', 'interactive: terminal id (without --config)')
    .option('--secret <secret>', 'interactive: terminal secret (without --config; CIAO_TERMINAL_SECRET works too)')
    .option('--badges <file>', 'interactive: JSON list of badges on keys [{"key","label","uid"}] (default: the demo workers)')
    .option('--reader <kind>', 'interactive: simulated, or vpcd (the real PC/SC path with a virtual card)')
    .option('--outbox <file>', 'interactive: outbox SQLite file (without --config)')
    .option('--log-file <file>', 'interactive: write the terminal\'s log there')
    .option('--terminals <n>', 'load: number of simulated terminals (default 10, or all in --credentials)')
    .option('--rate <r>', 'load: total taps per second over all terminals (default: as fast as acks allow)')
    .option('--duration <s>', 'load: seconds of sending (default 10 when no --count)')
    .option('--count <n>', 'load: total taps to send')
    .option('--window <n>', 'load: taps a terminal may have awaiting their ack (default 32, or 1000 with --rate)')
    .option('--url <url>', 'load and interactive: gateway MQTT URL (load default mqtt://127.0.0.1:1883, or the port in --gateway-config)')
    .option('--credentials <file>', 'load: JSON file [{"id","secret"}] of terminals known to the gateway')
    .option('--gateway-config <file>', 'load: create (or give new secrets to) terminals load-001... in this gateway\'s database')
    .option('--site <id>', 'load: with --gateway-config, the site of the created terminals')
    .option('--invalid-every <n>', 'load: make every Nth tap of each terminal malformed, to measure rejections')
    .option('--profile <name>', 'load: a scripted load instead of a steady one: national-morning (needs --gateway-config)')
    .option('--workers <n>', 'load, national-morning: workers, each tapping four times (default 60000)')
    .option('--hour-seconds <s>', 'load, national-morning: real seconds one simulated hour takes (default 120)')
    .option('--emulator-db <file>', 'load, national-morning: the ONSS emulator\'s database, to measure tap to registration created at ONSS')
    .option('--json', 'load: print the result as JSON')
    .option('--no-progress', 'load: no progress display on stderr')
    .addHelpText(
      'after',
      '\nExamples:\n  ciao sim --scenario simulator/scenarios/days/outage.json\n  ciao sim --url mqtt://127.0.0.1:1883 --id lab-1 --secret $SECRET\n  ciao sim --load --terminals 50 --rate 2000 --duration 30 --url mqtt://127.0.0.1:1883 --credentials terminals.json\n  ciao sim --load --terminals 50 --count 100000 --gateway-config gateway.json --site site-1 --json\n  ciao sim --load --profile national-morning --gateway-config gateway.json --url mqtt://127.0.0.1:1883 --emulator-db onss.sqlite',
    )
    .action(async (opts: Record<string, unknown>) => {
      if (opts.load) {
        if (opts.scenario) throw new Error('--load and --scenario cannot be combined: choose one mode');
        if (opts.profile !== undefined) {
          const { runProfileCommand } = await import('../../simulator/load/cli.ts');
          await runProfileCommand(opts);
          return;
        }
        const { runLoadCommand } = await import('../../simulator/load/cli.ts');
        await runLoadCommand(opts);
        return;
      }
      if (opts.scenario) {
        const speed = opts.speed === undefined ? undefined : Number(opts.speed);
        if (speed !== undefined && !(speed > 0)) throw new Error('--speed must be a positive number of virtual seconds per real second');
        const { scenarioCommandAction } = await import('../../simulator/scenarios/cli.ts');
        process.exitCode = await scenarioCommandAction({ scenario: String(opts.scenario), speed, keep: Boolean(opts.keep) });
        return;
      }
      const { interactiveSimCommandAction } = await import('../../simulator/device-ui/command.ts');
      await interactiveSimCommandAction(opts as never);
    });
}
