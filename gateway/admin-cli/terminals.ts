import type { Command } from 'commander';
import { collect, intOption, printRows, stdoutIo, withService, withStore } from './context.ts';

interface SettingsOptions {
  site?: string;
  debounce?: number;
  buttons?: string[];
  arm?: number;
  language?: string;
  feedback?: string;
}

function settingsOf(o: SettingsOptions) {
  return {
    siteId: o.site, debounceSeconds: o.debounce, buttons: o.buttons, armSeconds: o.arm,
    language: o.language === undefined ? undefined : o.language === 'site' ? null : o.language,
    feedbackSeconds: o.feedback === undefined ? undefined : o.feedback === 'default' ? null : Number(o.feedback),
  };
}

function withSettings(c: Command): Command {
  return c
    .option('--debounce <seconds>', 'ignore a repeated tap of the same badge within this many seconds', intOption('debounce'))
    .option('--buttons <list>', 'panel buttons offered, e.g. IN,OUT,BREAK', collect)
    .option('--arm <seconds>', 'how long a pressed button applies to the next tap', intOption('arm'))
    .option('--language <lang>', "the terminal's language (fr, nl, de, en), or 'site' for the site's")
    .option('--feedback <seconds>', "how long a tap's result stays on the panel (0.5 to 30), or 'default' for the terminal's own");
}

export function registerTerminalCommands(admin: Command): void {
  const t = admin.command('terminal').description('Terminals: MQTT identities (the secret is shown once), site, panel settings');
  withSettings(
    t.command('add')
      .description('Add a terminal and print its secret (shown only this once; only its hash is kept)')
      .argument('<id>', 'terminal id = MQTT client id = username')
      .requiredOption('--site <id>', 'the site where it hangs'),
  ).action(async (id: string, o: SettingsOptions, cmd: Command) =>
    withService(cmd, async (service, caller) => {
      const { terminal, secret } = await service.createTerminalWithSecret(caller, { id, ...settingsOf(o) });
      stdoutIo.out(`terminal ${terminal.id} added on site ${terminal.siteId}`);
      stdoutIo.out(`secret: ${secret}`);
      stdoutIo.out('Write the secret into the terminal config now: it is not stored and will not be shown again.');
    }),
  );
  withSettings(t.command('set').description("Change a terminal's site or panel settings").argument('<id>', 'terminal id').option('--site <id>', 'move it to this site')).action(
    async (id: string, o: SettingsOptions, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        const x = await service.updateTerminal(caller, id, settingsOf(o));
        stdoutIo.out(`terminal ${x.id} site ${x.siteId} debounce ${x.debounceSeconds}s buttons ${x.buttons.join(',')} arm ${x.armSeconds}s`);
      }),
  );
  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    t.command(name)
      .description(disabled ? 'Refuse this terminal from now on (it is disconnected if connected)' : 'Allow a disabled terminal again')
      .argument('<id>', 'terminal id')
      .action(async (id: string, _o: unknown, cmd: Command) =>
        withService(cmd, async (service, caller) => {
          await service.setTerminalActive(caller, id, !disabled);
          stdoutIo.out(`terminal ${id} ${disabled ? 'disabled' : 'enabled'}`);
        }),
      );
  }
  t.command('rotate-secret')
    .description('Give the terminal a new secret (printed once); the old one stops working')
    .argument('<id>', 'terminal id')
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withStore(cmd, async (store) => {
        const { rotateTerminalSecret } = await import('../site-data/terminals.ts');
        const secret = await rotateTerminalSecret(store, id);
        stdoutIo.out(`terminal ${id} has a new secret`);
        stdoutIo.out(`secret: ${secret}`);
      }),
    );
  t.command('pairing-code')
    .description('A one-time pairing code for the terminal (for `ciao terminal pair` on the device; short-lived, single use)')
    .argument('<id>', 'terminal id')
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        const code = await service.createPairingCode(caller, id);
        stdoutIo.out(`pairing code for ${id}: ${code.code} (valid until ${code.expiresAt}, single use)`);
        stdoutIo.out("On the device: ciao terminal pair CODE.FINGERPRINT --gateway https://GATEWAY:PORT (the console shows the whole line; the fingerprint is the pairing listener's CA, see docs/terminal.md)");
      }),
    );
  t.command('list')
    .description('List terminals with their last known status')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withStore(cmd, async (store) => {
        const { listTerminals } = await import('../site-data/terminals.ts');
        const { readTerminalStatus } = await import('../status/terminal-status.ts');
        const status = new Map((await readTerminalStatus(store)).map((s) => [s.terminal_id, s]));
        printRows(
          stdoutIo,
          (await listTerminals(store)).map((x) => {
            const s = status.get(x.id);
            return {
              id: x.id, site: x.siteId, disabled: x.disabled, debounce: x.debounceSeconds, buttons: x.buttons,
              state: s?.state ?? 'never-seen', queued: s?.queued ?? null, skewMs: s?.measured_skew_ms ?? s?.reported_skew_ms ?? null, lastTap: s?.last_tap_at ?? null,
            };
          }),
          !!o.json,
        );
      }),
    );
}
