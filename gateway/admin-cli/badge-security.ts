import type { Command } from 'commander';
import { describeProblems, intOption, printRows, resolveStoreLocation, stdoutIo, withService, withStore } from './context.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import type { BadgeKeyRing } from '../badge-security/key-ring.ts';

/**
 * Secure badges in `ciao admin`: `badge provision` personalises a blank NTAG 424 DNA on a desk reader and
 * enrols it, `badge keys …` keeps the master key file, `site require-secure-badges` sets a site's rule.
 * The operations live in gateway/badge-security/ and gateway/site-data/; this file only parses and prints.
 */
function subcommand(admin: Command, name: string): Command {
  const found = admin.commands.find((c) => c.name() === name);
  if (!found) throw new Error(`ciao admin ${name}: register it before the secure-badge commands`);
  return found;
}

/** Runs an action that does not open the database, reporting refused input the way `withStore` does (field and rule). */
async function reporting<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const problems = (err as { problems?: FieldProblem[] }).problems;
    if (Array.isArray(problems) && problems.length) throw new Error(`invalid input:\n  ${describeProblems(problems)}`);
    throw err;
  }
}

/** The key ring: --keys FILE, else the gateway config's badgeSecurity.keyFile, else the environment. */
async function keyRingFor(cmd: Command, keysFile?: string): Promise<BadgeKeyRing> {
  const { loadKeyRing } = await import('../badge-security/key-ring.ts');
  if (keysFile) return loadKeyRing({ file: keysFile, field: '--keys' });
  const { config } = cmd.optsWithGlobals() as { config?: string };
  if (config) {
    const { loadGatewayConfig } = await import('../config.ts');
    return loadKeyRing({ file: loadGatewayConfig(config).badgeSecurity.keyFile, field: 'badgeSecurity.keyFile' });
  }
  return loadKeyRing({});
}

interface ProvisionCliOptions {
  worker?: string;
  reader?: string;
  from?: string;
  to?: string;
  keys?: string;
  wait: number;
  json?: boolean;
}

export function registerBadgeSecurityCommands(admin: Command): void {
  const badge = subcommand(admin, 'badge');
  badge
    .command('provision')
    .description(
      'Personalise a blank NXP NTAG 424 DNA on a desk reader (PC/SC) and enrol it to a worker as a secure badge. ' +
        'Run again on a badge of an earlier key version to move it to the current one (--worker may then be left out). ' +
        'Interrupted (badge taken away), it is safe to run again: it resumes where it stopped',
    )
    .option('--worker <ref>', 'worker id, NISS/BIS or Limosa id (required for a badge not enrolled yet)')
    .option('--reader <name>', 'the desk reader to use: part of its PC/SC name (several readers attached)')
    .option('--from <date>', 'first valid day, YYYY-MM-DD (default today, or what the enrolled badge has)')
    .option('--to <date>', 'last valid day, YYYY-MM-DD (open-ended if absent)')
    .option('--keys <file>', "badge key file (default: the gateway config's badgeSecurity.keyFile, or CIAO_GATEWAY_BADGE_KEYS)")
    .option('--wait <seconds>', 'how long to wait for a badge on the reader', intOption('wait'), 60)
    .option('--json', 'print the result as JSON')
    .action(async (o: ProvisionCliOptions, cmd: Command) => {
      const keys = await reporting(() => keyRingFor(cmd, o.keys));
      await withStore(cmd, async (store) => {
        const { provisionOnDeskReader } = await import('../badge-security/enrol.ts');
        const { cliCaller } = await import('./context.ts');
        const progress = o.json ? () => undefined : (line: string) => stdoutIo.out(`  ${line}`);
        try {
          const r = await provisionOnDeskReader({
            store,
            keys,
            ...(o.worker !== undefined ? { worker: o.worker } : {}),
            ...(o.from ? { validFrom: o.from } : {}),
            ...(o.to ? { validTo: o.to } : {}),
            ...(o.reader ? { readerName: o.reader } : {}),
            waitMs: o.wait * 1000,
            actor: cliCaller().actor,
            onReady: (names) => progress(`present the badge on ${names.join(', ')} (waiting ${o.wait} s)`),
            onStep: progress,
          });
          const b = r.badge;
          if (o.json) {
            stdoutIo.out(JSON.stringify({ uid: b.uid, workerId: b.workerId, kind: b.kind, keyVersion: b.keyVersion, validFrom: b.validFrom, validTo: b.validTo, previousWorkerId: r.previousWorkerId, previousKeyVersion: r.previousKeyVersion, keysChanged: r.provisioning.keysChanged }));
            return;
          }
          const moved = r.previousKeyVersion !== null ? ` (was key version ${r.previousKeyVersion})` : '';
          stdoutIo.out(`badge ${b.uid} personalised with key version ${b.keyVersion}${moved} and enrolled: secure, worker ${b.workerId} ${b.validFrom}..${b.validTo ?? ''}`);
          if (r.previousWorkerId) stdoutIo.out(`the badge was bound to worker ${r.previousWorkerId} before`);
        } catch (err) {
          if ((err as { problems?: unknown }).problems) throw err;
          throw new Error(`${(err as Error).message}\nNothing is lost: present the badge again and run the same command; personalisation resumes where it stopped.`);
        }
      });
    });

  const keys = badge.command('keys').description('The badge master key file: create it, rotate to a new key version, list versions (keys are never printed)');
  keys
    .command('init')
    .description('Create a key file (mode 0600) with key version 1 of fresh random keys; never overwrites one')
    .argument('<file>', 'path of the new key file, e.g. /etc/ciao/badge-keys.json')
    .action(async (file: string) => {
      const { createKeyFile } = await import('../badge-security/key-ring.ts');
      const ring = await reporting(() => createKeyFile(file));
      stdoutIo.out(`key file ${file} created (mode 0600) with key version ${ring.current}; keep a copy offline: badges personalised with it verify only with these keys`);
    });
  keys
    .command('add-version')
    .description('Rotation: add the next key version of fresh random keys and make it current (earlier versions keep verifying)')
    .argument('<file>', 'the key file')
    .action(async (file: string) => {
      const { addKeyVersion } = await import('../badge-security/key-ring.ts');
      const ring = await reporting(() => addKeyVersion(file));
      stdoutIo.out(`key version ${ring.current} added to ${file} and made current; restart the gateway, then re-personalise badges with 'ciao admin badge provision'`);
    });
  keys
    .command('remove-version')
    .description('Remove a key version (leaked, or no badge uses it any more); taps of badges still on it are held from then on')
    .argument('<file>', 'the key file')
    .argument('<version>', 'the key version', intOption('version'))
    .action(async (file: string, version: number) => {
      const { removeKeyVersion } = await import('../badge-security/key-ring.ts');
      await reporting(() => removeKeyVersion(file, version));
      stdoutIo.out(`key version ${version} removed from ${file}; restart the gateway`);
    });
  keys
    .command('list')
    .description('List the key versions (with key check values, never the keys) and, with a database, how many secure badges use each')
    .option('--keys <file>', "badge key file (default: the gateway config's badgeSecurity.keyFile, or the environment)")
    .option('--json', 'print JSON')
    .action(async (o: { keys?: string; json?: boolean }, cmd: Command) => {
      const ring = await reporting(() => keyRingFor(cmd, o.keys));
      const { keyCheckValue } = await import('../badge-security/key-ring.ts');
      let counts = new Map<number, number>();
      const haveDb = await resolveStoreLocation(cmd).then(() => true, () => false);
      if (haveDb) {
        counts = await withStore(cmd, async (store) => new Map((await store.all<{ v: number; n: number }>("SELECT key_version AS v, COUNT(*) AS n FROM badges WHERE kind = 'secure' AND revoked_at IS NULL GROUP BY key_version")).map((r) => [r.v, r.n])));
      }
      const versions = new Set([...ring.versions.keys(), ...counts.keys()]);
      const rows = [...versions].sort((a, b) => a - b).map((v) => {
        const k = ring.versions.get(v);
        return {
          version: v,
          current: v === ring.current,
          application: k ? keyCheckValue(k.application) : '(missing)',
          sdmMetaRead: k ? keyCheckValue(k.sdmMetaRead) : '(missing)',
          sdmFileRead: k ? keyCheckValue(k.sdmFileRead) : '(missing)',
          ...(haveDb ? { badges: counts.get(v) ?? 0 } : {}),
        };
      });
      printRows(stdoutIo, rows, !!o.json);
    });

  const site = subcommand(admin, 'site');
  site
    .command('require-secure-badges')
    .description("Require secure badges on a site (UID-only badges are then refused at enrolment for its workers and flagged on every tap), or stop requiring them with --off")
    .argument('<id>', 'site id')
    .option('--off', 'stop requiring secure badges')
    .action(async (id: string, o: { off?: boolean }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        const p = await service.setSiteRequiresSecureBadges(caller, id, !o.off);
        stdoutIo.out(`site ${p.siteId} ${p.requireSecureBadges ? 'requires secure badges' : 'accepts UID-only badges'}`);
        if (p.requireSecureBadges && p.uidOnlyBadges.length) {
          stdoutIo.out(`${p.uidOnlyBadges.length} UID-only badge(s) of its workers are flagged on every tap until replaced:`);
          for (const b of p.uidOnlyBadges) stdoutIo.out(`  ${b.uid}  ${b.workerId}  ${b.workerName}`);
        }
      }),
    );
}
