import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { registerRecordsCommands } from '../../gateway/admin-cli/records.ts';
import { userForToken } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { appendRegistration, createWorld, NISS_W1, type World } from './helpers/world.ts';
import { EMPLOYER_B } from './helpers/facts.ts';
import { siteDay } from '../support/site-day.ts';

/** The `ciao admin` subcommands, run through a real commander program against a real database file. */
let world: World;

async function run(...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const program = new Command('ciao').exitOverride().configureOutput({ writeOut: (s) => lines.push(s), writeErr: (s) => lines.push(s) });
  const admin = program.command('admin').option('--db <file>').option('--config <file>');
  registerRecordsCommands(admin, { out: (l) => lines.push(l) });
  await program.parseAsync(['node', 'ciao', 'admin', '--db', world.dbPath, ...args]);
  return lines;
}

beforeAll(() => {
  world = createWorld();
  // Registrations of the last days (the CLI reads the real clock).
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Brussels' }).format(new Date());
  const yesterday = siteDay(1);
  appendRegistration(world.db, { local: `${yesterday}T08:00`, type: 'IN', employer: EMPLOYER_B });
  appendRegistration(world.db, { local: `${yesterday}T09:00`, type: 'IN' });
  appendRegistration(world.db, { local: `${yesterday}T16:00`, type: 'OUT' });
  void today;
});
afterAll(async () => world.close());

describe('ciao admin (site manager commands)', () => {
  it('applies: names the deciding rules', async () => {
    const out = (await run('applies', '--amount', '6000', '--subcontractors', '1', '--cleaning', 'yes')).join('\n');
    expect(out).toMatch(/declaration of works\s+YES\s+\[30bis-5000-one-subcontractor\]/);
    expect(out).toMatch(/CIaO\s+YES\s+\[ciao-declared-cleaning\]/);
    expect(out).toMatch(/Checkinatwork\s+no\s+\[caw-not-for-cleaning\]/);
    await expect(run('applies', '--amount', 'many', '--subcontractors', '0', '--cleaning', 'yes')).rejects.toThrow(/--amount/);
    // 30.000 is thirty thousand euros; 30,000 is refused rather than guessed.
    expect((await run('applies', '--amount', '30.000', '--subcontractors', '0', '--cleaning', 'yes')).join('\n')).toMatch(/declaration of works\s+YES\s+\[30bis-30000-no-subcontractor\]/);
    expect((await run('applies', '--amount', '30 000', '--subcontractors', '0', '--cleaning', 'yes')).join('\n')).toMatch(/declaration of works\s+YES/);
    await expect(run('applies', '--amount', '30,000', '--subcontractors', '0', '--cleaning', 'yes')).rejects.toThrow(/--amount: .*could be read two ways.*\(rule: ambiguous-amount\)/);
    // No cleaning under the contract: its works are other works, so Checkinatwork answers on its amount.
    expect((await run('applies', '--amount', '600.000', '--subcontractors', '0', '--cleaning', 'no')).join('\n')).toMatch(/Checkinatwork\s+YES\s+\[caw-500000\]/);
  });

  it('user add prints a token once; it authenticates and is stored only hashed', async () => {
    const out = await run('user', 'add', '--name', 'Marie', '--role', 'manager', '--sites', 'S1');
    const token = /token \(shown once, keep it safe\): (\S+)/.exec(out.join('\n'))![1]!;
    expect(await userForToken(SqliteStore.of(world.db), token)).toMatchObject({ name: 'Marie', role: 'site-manager', sites: ['S1'], canSeeNiss: false });
    const dump = JSON.stringify(world.db.prepare('SELECT * FROM siteman_users').all());
    expect(dump).not.toContain(token);
    await expect(run('user', 'add', '--name', 'X', '--role', 'manager', '--sites', 'S9')).rejects.toThrow(/sites: unknown site\(s\) S9.*rule: exists/s);
    const list = (await run('user', 'list')).join('\n');
    expect(list).toContain('Marie');
    expect(list).not.toContain(token);
  });

  it('remarks: prints each remark with its advice in the chosen language', async () => {
    const out = (await run('remarks', '--lang', 'nl')).join('\n');
    expect(out).toContain('double-in');
    expect(out).toContain('employer-not-on-declaration');
    expect(out).toMatch(/-> .*RSZ/);
  });

  it('export: refuses 101 days naming the rule, writes a private file without NISS unless asked', async () => {
    await expect(run('export', '--from', '2026-01-01', '--to', '2026-04-11')).rejects.toThrow(/max-100-calendar-days/);
    const from = siteDay(5);
    const to = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Brussels' }).format(new Date());
    const file = join(world.dir, 'export.csv');
    expect((await run('export', '--from', from, '--to', to, '--out', file)).join('\n')).toContain('3 registrations written');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(NISS_W1);
    const withNiss = (await run('export', '--from', from, '--to', to, '--format', 'json', '--with-niss')).join('\n');
    expect(JSON.parse(withNiss).registrations[0].ssin).toBe(NISS_W1);
  });

  it('corrections: prepare, send, document; a wrong field is refused with the rule', async () => {
    const seq = (world.db.prepare('SELECT seq FROM registrations WHERE employer_id = ?').get(EMPLOYER_B) as { seq: number }).seq;
    await expect(run('corrections', 'prepare', '--seq', String(seq), '--field', 'time', '--value', 'x', '--reason', 'r')).rejects.toThrow();
    const prepared = (await run('corrections', 'prepare', '--seq', String(seq), '--field', 'employer', '--value', '0403019261', '--reason', 'takeover')).join('\n');
    const id = /correction request (\d+) \(draft\)/.exec(prepared)![1]!;
    expect((await run('corrections', 'set-state', id, 'sent')).join('\n')).toContain('is now sent');
    await expect(run('corrections', 'set-state', id, 'draft')).rejects.toThrow(/state-transition/);
    const html = (await run('corrections', 'document', id)).join('\n');
    expect(html).toContain('<!doctype html>');
    expect(html).toContain('0403019261');
    expect(html).not.toContain(NISS_W1);
    const list = (await run('corrections', 'list', '--json')).join('\n');
    expect(JSON.parse(list)[0]).toMatchObject({ state: 'sent', requested: '0403019261' });
  });

  it('every subcommand has --help', async () => {
    for (const path of [['applies'], ['presence'], ['remarks'], ['export'], ['corrections', 'prepare'], ['user', 'add']]) {
      await expect(run(...path, '--help')).rejects.toMatchObject({ code: 'commander.helpDisplayed' });
    }
  });
});
