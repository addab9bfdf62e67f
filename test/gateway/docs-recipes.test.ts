import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { upsertCompany } from '../../gateway/site-data/companies.ts';
import { upsertSite } from '../../gateway/site-data/sites.ts';
import { upsertDeclaration } from '../../gateway/site-data/declarations.ts';
import { upsertWorker } from '../../gateway/site-data/workers.ts';
import { upsertBadge } from '../../gateway/site-data/badges.ts';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { startTestGateway, type TestGateway } from './helpers/start-gateway.ts';

/**
 * The command recipes of the docs, run as written: a reader who copies them must get what the docs say.
 * Only the line the docs tell the reader to adapt (the gateway's port and database) is set to the test's.
 */
const REPO = resolve(import.meta.dirname, '../..');
const haveMosquitto = existsSync('/usr/bin/mosquitto_pub') && existsSync('/usr/bin/mosquitto_sub');
if (!haveMosquitto && process.env.CI === 'true') throw new Error('mosquitto-clients is required under CI (apt-get install mosquitto-clients)');
if (!haveMosquitto) console.warn('SKIPPING the docs recipe test: mosquitto-clients is not installed');

/** The shell block that follows a heading in a Markdown file. */
function shellBlockAfter(file: string, heading: string): string {
  const text = readFileSync(resolve(REPO, file), 'utf8');
  const at = text.indexOf(heading);
  if (at < 0) throw new Error(`${file}: no heading ${heading}`);
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(at));
  if (!block) throw new Error(`${file}: no sh block after ${heading}`);
  return block[1]!;
}

describe('docs/mqtt-api.md: trying it with mosquitto clients', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      seed: (db) => {
        const company = makeEnterpriseNumber('04030192');
        upsertCompany(db, { number: company, name: 'Net & Clean' });
        upsertSite(db, { id: 'site-a', name: 'Résidence Les Tilleuls', language: 'fr', postCode: '1000', municipality: 'Bruxelles', street: 'Rue Neuve', houseNumber: '1' });
        upsertDeclaration(db, { number: '1Y102M7NZF7PZ', siteId: 'site-a', validFrom: '2020-01-01', companies: [company] });
        upsertWorker(db, { id: 'w-ana', niss: makeWorkerNumber({ year: 1985, month: 7, day: 30 }, 33), name: 'Ana Peeters', capacity: 'employee', employers: [company] });
        upsertBadge(db, { uid: '04A1B2C3D4E5F6', worker: 'w-ana', validFrom: '2020-01-01' });
      },
    });
  });
  afterAll(async () => gw?.stop());

  it.skipIf(!haveMosquitto)('creates the terminal, publishes a tap and collects its stored ack', async () => {
    const block = shellBlockAfter('docs/mqtt-api.md', '## Trying it with mosquitto clients');
    const [first, ...rest] = block.split('\n');
    expect(first).toBe('PORT=1883 DB=gateway.db');
    const script = [`PORT=${gw.mqttPort} DB=${JSON.stringify(gw.dbPath)}`, ...rest].join('\n');
    const out = await new Promise<string>((done, fail) =>
      execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd: REPO, timeout: 60_000 }, (err, stdout, stderr) => (err ? fail(new Error(`${err.message}\n${stderr}`)) : done(stdout))),
    );
    // Step 1 shows the retained config and roster; step 3 prints the ack.
    expect(out).toMatch(/^ciao\/v1\/terminals\/lab-1\/config \{.*"site":\{"id":"site-a"/m);
    expect(out).toMatch(/^ciao\/v1\/terminals\/lab-1\/roster \{.*"04A1B2C3D4E5F6"/m);
    const ackLine = out.split('\n').filter((l) => l.startsWith('ciao/v1/terminals/lab-1/acks ')).pop()!;
    const ack = JSON.parse(ackLine.slice('ciao/v1/terminals/lab-1/acks '.length)) as { id: string; status: string };
    expect(ack.status).toBe('stored');
    expect(gw.db().prepare("SELECT terminal_id, badge, enrichment FROM taps WHERE tap_id = ?").get(ack.id)).toEqual({ terminal_id: 'lab-1', badge: '04A1B2C3D4E5F6', enrichment: 'enriched' });
  });
});
