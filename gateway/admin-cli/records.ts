import { Option, type Command } from 'commander';
import { userInfo } from 'node:os';
import { collect, intOption, printRows, stdoutIo, withService, withStore, type AdminIo } from './context.ts';
import type { ApiUser } from '../access/users.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { parseEuroAmount } from '../site-data/applicability.ts';

/**
 * The site manager's `ciao admin` subcommands: applies, presence, remarks, export, corrections, user.
 * Definitions only; each action loads its implementation lazily so `ciao --help` stays fast.
 * Whoever runs these holds the gateway database file (or the PostgreSQL server's credentials), so they act as an
 * administrator of every site;
 * NISS numbers still stay out of exports and documents unless `--with-niss` is given.
 */
export function registerRecordsCommands(admin: Command, io: AdminIo = stdoutIo): void {
  const yesNo = (name: string) => (v: string): boolean => {
    const s = v.trim().toLowerCase();
    if (['yes', 'y', 'true', 'oui', 'ja', '1'].includes(s)) return true;
    if (['no', 'n', 'false', 'non', 'nee', '0'].includes(s)) return false;
    throw new Error(`--${name}: must be yes or no, got ${JSON.stringify(v)}`);
  };
  // Amounts as Belgians type them (30.000, 30 000, 30.000,50), or a clear refusal: never 30.000 read as 30 EUR.
  const euros = (name: string) => (v: string): number => {
    const r = parseEuroAmount(v, name);
    if (!r.ok) throw new Error(`--${name}: ${r.problem.message.replace(/^[^:]+: /, '')} (rule: ${r.problem.rule})`);
    return r.value;
  };
  const localAdmin = (withNiss = false): ApiUser => ({ id: 'cli', name: `cli:${safeUser()}`, role: 'administrator', sites: null, company: null, canSeeNiss: withNiss, createdAt: '', revokedAt: null });
  const service = async (store: SqlStore) => {
    const { RecordsService } = await import('../records/service.ts');
    const { createSqlQueries } = await import('../records/sql-queries.ts');
    return new RecordsService(store, createSqlQueries(store));
  };
  const write = async (out: string | undefined, body: string, what: string) => {
    if (!out) {
      io.out(body.replace(/\r?\n$/, ''));
      return;
    }
    const { writeFileSync } = await import('node:fs');
    // Exports may hold NISS numbers: private to the user, like the database.
    writeFileSync(out, body, { mode: 0o600 });
    io.out(`${what} written to ${out}`);
  };

  admin
    .command('applies')
    .description('Does a contract need a declaration of works, and do CIaO and Checkinatwork apply? Names the deciding rule (FAQ 3, 6, 10)')
    .requiredOption('--amount <eur>', 'value of the main contract in EUR (excl. VAT)', euros('amount'))
    .requiredOption('--subcontractors <n>', 'number of subcontractors', intOption('subcontractors'))
    .requiredOption('--cleaning <yes|no>', 'maintenance or cleaning of buildings under the contract', yesNo('cleaning'))
    .option('--other-works <yes|no>', 'other immovable works (construction...) under the same declaration (default: no with cleaning, yes without)', yesNo('other-works'))
    .option('--declaration-total <eur>', 'sum of the main contracts on the declaration (Checkinatwork threshold); default the amount', euros('declaration-total'))
    .option('--movable-only', 'only movable goods are cleaned (trains, cars, planes)')
    .option('--voluntary', 'a declaration of works is filed voluntarily (FAQ 4)')
    .option('--json', 'print JSON')
    .action(async (o: { amount: number; subcontractors: number; cleaning: boolean; otherWorks?: boolean; declarationTotal?: number; movableOnly?: boolean; voluntary?: boolean; json?: boolean }) => {
      if (o.subcontractors < 0) throw new Error('--subcontractors: must be 0 or more');
      const { decideApplicability } = await import('../site-data/applicability.ts');
      const a = decideApplicability({ amountEur: o.amount, subcontractors: o.subcontractors, cleaning: o.cleaning, otherWorks: o.otherWorks, declarationTotalEur: o.declarationTotal, movableOnly: o.movableOnly, voluntaryDeclaration: o.voluntary });
      if (o.json) return io.out(JSON.stringify(a, null, 2));
      const line = (label: string, d: { applies: boolean; rule: string; explanation: string }) => io.out(`${label.padEnd(22)} ${d.applies ? 'YES' : 'no '}  [${d.rule}] ${d.explanation}`);
      line('declaration of works', a.declarationRequired);
      line('CIaO', a.ciao);
      line('Checkinatwork', a.checkinatwork);
    });

  admin
    .command('presence')
    .description('Who is on which site now (working or on break)')
    .option('--site <id>', 'only this site')
    .option('--json', 'print JSON')
    .action(async (o: { site?: string; json?: boolean }, cmd: Command) =>
      withStore(cmd, async (store) => {
        const rows = (await (await service(store)).presence(localAdmin(), o.site)).map((p) => ({ site: p.siteId, worker: p.workerId, name: p.workerName, state: p.state, since: p.since }));
        printRows(io, rows, !!o.json);
      }),
    );

  admin
    .command('remarks')
    .description('Remarks recomputed now from the data, each with what to do (default: the last 31 days)')
    .option('--from <date>', 'first site day, YYYY-MM-DD')
    .option('--to <date>', 'last site day, YYYY-MM-DD')
    .option('--site <id>', 'only this site')
    .option('--kind <kind>', 'only this kind (e.g. missing-out)')
    .addOption(new Option('--lang <lang>', 'language of messages and advice').choices(['fr', 'nl', 'en']).default('fr'))
    .option('--json', 'print JSON (all languages)')
    .action(async (o: { from?: string; to?: string; site?: string; kind?: string; lang: 'fr' | 'nl' | 'en'; json?: boolean }, cmd: Command) =>
      withStore(cmd, async (store) => {
        const remarks = await (await service(store)).remarks(localAdmin(), o);
        if (o.json) return io.out(JSON.stringify(remarks, null, 2));
        if (remarks.length === 0) return io.out('(no remarks)');
        for (const r of remarks) {
          io.out(`${r.day}  ${r.severity.toUpperCase().padEnd(7)} ${r.kind}  ${[r.siteId, r.workerId, r.terminalId, r.seq !== null ? `#${r.seq}` : null].filter(Boolean).join(' ')}`);
          io.out(`    ${r.message[o.lang]}`);
          io.out(`    -> ${r.advice[o.lang]}`);
        }
      }),
    );

  admin
    .command('export')
    .description('Export registrations of a period (at most 100 calendar days, FAQ 39) as CSV or JSON')
    .requiredOption('--from <date>', 'first site day, YYYY-MM-DD')
    .requiredOption('--to <date>', 'last site day, YYYY-MM-DD')
    .option('--site <id>', 'only this site')
    .option('--worker <id>', 'only this worker')
    .option('--company <number>', 'only this employer')
    .option('--declaration <number>', 'only this declaration of works')
    .addOption(new Option('--format <format>', 'file format').choices(['csv', 'json']).default('csv'))
    .option('--out <file>', 'write to this file (mode 0600) instead of stdout')
    .option('--with-niss', 'include NISS numbers (only for people allowed to see them)')
    .action(async (o: { from: string; to: string; site?: string; worker?: string; company?: string; declaration?: string; format: string; out?: string; withNiss?: boolean }, cmd: Command) =>
      withStore(cmd, async (store) => {
        const r = await (await service(store)).export(localAdmin(!!o.withNiss), o);
        await write(o.out, r.body, `${r.count} registrations`);
      }),
    );

  const c = admin.command('corrections').description('Correction requests to ONSS: only a wrong company or declaration number, within 30 days (FAQ 36)');
  c.command('list')
    .description('List correction requests')
    .addOption(new Option('--state <state>', 'only this state').choices(['draft', 'sent', 'accepted', 'refused']))
    .option('--json', 'print JSON')
    .action(async (o: { state?: string; json?: boolean }, cmd: Command) =>
      withStore(cmd, async (store) => {
        const rows = (await (await service(store)).corrections(localAdmin(), { state: o.state })).map((x) => ({ id: x.id, seq: x.seq, site: x.siteId, field: x.field, registered: x.currentValue, requested: x.requestedValue, state: x.state, deadline: x.deadline, reason: x.reason }));
        printRows(io, rows, !!o.json);
      }),
    );
  c.command('prepare')
    .description('Prepare a correction request (draft); the registration itself is never changed')
    .requiredOption('--seq <n>', 'registration number', intOption('seq'))
    .addOption(new Option('--field <field>', 'what is wrong').choices(['employer', 'declaration']).makeOptionMandatory())
    .requiredOption('--value <value>', 'the correct company number or declaration number')
    .requiredOption('--reason <text>', 'what was wrong and why')
    .action(async (o: { seq: number; field: string; value: string; reason: string }, cmd: Command) =>
      withStore(cmd, async (store) => {
        const x = await (await service(store)).prepareCorrection(localAdmin(), { seq: o.seq, field: o.field, requestedValue: o.value, reason: o.reason });
        io.out(`correction request ${x.id} (draft): registration ${x.seq} ${x.field} ${x.currentValue} -> ${x.requestedValue}; send it to ONSS by ${x.deadline}`);
      }),
    );
  c.command('set-state')
    .description('Record that a request was sent to ONSS, or ONSS\'s decision (draft -> sent -> accepted | refused)')
    .argument('<id>', 'request id', intOption('id'))
    .argument('<state>', 'sent, accepted or refused')
    .option('--note <text>', 'e.g. the ONSS reference of the decision')
    .action(async (id: number, state: string, o: { note?: string }, cmd: Command) =>
      withStore(cmd, async (store) => {
        const x = await (await service(store)).changeCorrection(localAdmin(), id, state, o.note);
        io.out(`correction request ${x.id} is now ${x.state}`);
      }),
    );
  c.command('document')
    .description('The document to send to ONSS for one or more requests: printable HTML, CSV or JSON')
    .argument('<ids...>', 'request ids')
    .addOption(new Option('--format <format>', 'document format').choices(['html', 'csv', 'json']).default('html'))
    .option('--out <file>', 'write to this file (mode 0600) instead of stdout')
    .option('--with-niss', "include the worker's NISS (ONSS needs it to find the registration)")
    .action(async (ids: string[], o: { format: string; out?: string; withNiss?: boolean }, cmd: Command) =>
      withStore(cmd, async (store) => {
        const numbers = ids.map((v) => intOption('ids')(v));
        const doc = await (await service(store)).correctionDocument(localAdmin(!!o.withNiss), numbers, o.format);
        await write(o.out, doc.body, 'correction document');
      }),
    );

  const u = admin.command('user').description('Users of the admin API and dashboard (site managers and administrators)');
  u.command('add')
    .description('Create a user; prints the API token once (it is stored only as a hash)')
    .requiredOption('--name <name>', 'who it is for')
    .addOption(new Option('--role <role>', 'administrator: everything; site-manager: changes the site data of their scope; payroll: reads with NISS and exports; read-only: reads (manager and admin are the old names)').choices(['administrator', 'site-manager', 'payroll', 'read-only', 'manager', 'admin']).makeOptionMandatory())
    .option('--sites <ids>', 'scope: sites the user may see (comma-separated, repeatable)', collect, [])
    .option('--company <number>', "scope: the user's company; they see its workers and its subcontracting chain's (FAQ 33)")
    .option('--niss', 'may see NISS numbers (a grant beyond the role; payroll and administrators see them anyway)')
    .action(async (o: { name: string; role: string; sites: string[]; company?: string; niss?: boolean }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        const { user, token } = await service.createUser(caller, { name: o.name, role: o.role, sites: o.sites, company: o.company, canSeeNiss: o.niss });
        io.out(`user ${user.id} (${user.role}${user.company ? ` of company ${user.company}` : ''}${user.sites ? ` of ${user.sites.join(', ')}` : ''}${user.canSeeNiss ? ', sees NISS' : ''})`);
        io.out(`token (shown once, keep it safe): ${token}`);
      }),
    );
  u.command('list')
    .description('List users (never their tokens)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        printRows(io, (await service.listUsers(caller, { inactive: true, limit: 500 })).items.map((x) => ({ id: x.id, name: x.name, role: x.role, company: x.company, sites: x.sites ?? ['*'], niss: x.canSeeNiss, created: x.createdAt, revoked: x.revokedAt })), !!o.json);
      }),
    );
  u.command('revoke')
    .description('Revoke a user; their token stops working at once')
    .argument('<id>', 'user id')
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        const x = await service.revokeUser(caller, id);
        io.out(`user ${x.id} revoked at ${x.revokedAt}`);
      }),
    );

  admin.command('audit')
    .description('The audit trail: every change with who, when, before and after (NISS masked)')
    .option('--entity <kind>', 'company, site, declaration, worker, badge, terminal or user')
    .option('--id <id>', 'one record')
    .option('--limit <n>', 'newest first, at most this many', intOption('limit'), 100)
    .option('--csv', 'print CSV (as the console exports it)')
    .option('--json', 'print JSON')
    .action(async (o: { entity?: string; id?: string; limit: number; csv?: boolean; json?: boolean }, cmd: Command) =>
      withService(cmd, async (service, caller) => {
        const { auditCsv } = await import('../site-data/audit.ts');
        const { items } = await service.auditTrail(caller, { entity: o.entity, entityId: o.id, limit: o.limit });
        if (o.csv) process.stdout.write(auditCsv(items));
        else printRows(io, items.map((e) => ({ id: e.id, at: e.at, who: e.actor.name, action: e.action, entity: e.entity, entityId: e.entityId, ...(o.json ? { before: e.before, after: e.after, causeId: e.causeId } : {}) })), !!o.json);
      }),
    );
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
