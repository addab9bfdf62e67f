import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { decodeStatus, type Roster } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { MESSAGES } from '../../terminal/core/messages.ts';
import { startTestGateway, siteConfig, type TestGateway } from '../../simulator/stand-in-gateway/stand-in-gateway.ts';
import { startSimTerminal, tempDir, type SimTerminal } from './helpers/harness.ts';
import { waitFor } from './helpers/wait.ts';

/**
 * FAQ 31: when a terminal cannot register (no reader, no site configured, an outbox it cannot write), its
 * panel says so and sends the worker to the fallback every site has, the declaration's CIaO QR code; its
 * status says why, so the gateway can journal it. Being offline is not such a case: taps wait in the outbox.
 */
const TID = 't-faq31';
const ANA = '04A1B2C3D4E5F6';

const roster: Roster = { v: 1, updatedAt: toOffsetIso(new Date()), badges: { [ANA]: { name: 'Ana P.', employers: [] } } };

describe('a terminal that cannot register says so (FAQ 31)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let gw: TestGateway;
  let term: SimTerminal | undefined;

  beforeEach(async () => {
    tmp = tempDir();
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gateway.db'), secrets: { [TID]: `secret-${TID}` } });
    await gw.publishRetained(TID, 'roster', roster);
  });

  afterEach(async () => {
    await term?.stop();
    term = undefined;
    await gw.close();
    tmp.cleanup();
  });

  const statuses = () => gw.statuses.filter((s) => s.terminal === TID && s.payload.state === 'online').map((s) => s.payload);

  it('with no site configured: records nothing, points to the QR code, reports it, and registers once the config comes', async () => {
    // A terminal file that names no site, and a gateway that has not (yet) given it one.
    const t = (term = await startSimTerminal(TID, gw.url, join(tmp.dir, 'outbox.db'), { defaults: { language: 'fr', debounceSeconds: 0 } }));
    await waitFor(() => t.link.isConnected && t.state.lookup(ANA), { what: 'connection and roster' });
    expect(t.state.cannotRegister).toEqual(['no-site-config']);
    expect(t.spanel.lines).toEqual(['Non configure', 'Scannez QR CIaO']);
    await waitFor(() => statuses().some((s) => JSON.stringify(s.cannotRegister) === '["no-site-config"]'), { what: 'status with the reason' });
    // The gateway decodes it as it decodes every status (a strict schema): the reason is accepted, not refused.
    expect(decodeStatus(JSON.stringify(statuses().at(-1)))).toMatchObject({ ok: true, value: { cannotRegister: ['no-site-config'] } });

    const beeps: string[] = [];
    t.spanel.on('beep', (b) => beeps.push(b));
    expect(t.pipeline.handleBadge(ANA)).toEqual({ kind: 'refused', badge: ANA, reason: 'no-site-config' });
    expect(t.spanel.led).toBe('red');
    expect(beeps).toEqual(['refused']);
    expect(t.spanel.lines).toEqual(['Non configure', 'Scannez QR CIaO']);
    expect(t.outbox.queued).toBe(0);

    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0, language: 'fr' }));
    await waitFor(() => t.state.cannotRegister.length === 0, { what: 'config applied' });
    await waitFor(() => statuses().at(-1)?.cannotRegister === undefined, { what: 'status without a reason' });
    await waitFor(() => t.spanel.lines[0] === 'Presentez badge', { what: 'the idle screen once the refusal has been shown' });
    expect(t.pipeline.handleBadge(ANA)).toMatchObject({ kind: 'queued', tap: { direction: 'IN' } });
    await waitFor(() => gw.storedCount() === 1);
  });

  it('with an outbox it cannot write: the tap is not taken for recorded, the panel says so, and it recovers by itself', async () => {
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0, language: 'nl' }));
    const t = (term = await startSimTerminal(TID, gw.url, join(tmp.dir, 'outbox.db')));
    await waitFor(() => t.link.isConnected && t.state.lookup(ANA) && t.state.config, { what: 'connection, config and roster' });
    expect(t.pipeline.handleBadge(ANA)).toMatchObject({ kind: 'queued' });
    await waitFor(() => gw.storedCount() === 1 && t.outbox.queued === 0);

    // The file may grow no further: SQLite answers exactly as on a full disk (SQLITE_FULL).
    const pages = t.outbox.db.pragma('page_count', { simple: true }) as number;
    t.outbox.db.pragma(`max_page_count = ${pages}`);
    const refused = [];
    let queued = 1;
    for (let i = 0; i < 50; i++) {
      const outcome = t.pipeline.handleBadge(ANA);
      if (outcome?.kind === 'queued') queued += 1;
      if (outcome?.kind === 'refused') {
        refused.push(outcome);
        break;
      }
    }
    expect(refused).toEqual([{ kind: 'refused', badge: ANA, reason: 'outbox-unwritable' }]);
    expect(t.spanel.lines).toEqual([MESSAGES.nl.storageError, MESSAGES.nl.useQrCode]);
    expect(t.spanel.led).toBe('red');
    expect(t.state.cannotRegister).toEqual(['outbox-unwritable']);
    await waitFor(() => statuses().some((s) => JSON.stringify(s.cannotRegister) === '["outbox-unwritable"]'), { what: 'status with the reason' });
    // Every tap that was taken reaches the gateway; the refused one was never recorded.
    await waitFor(() => t.outbox.queued === 0, { what: 'the taps taken before, acked' });
    expect(gw.storedCount()).toBe(queued);

    // Room again: the panel's periodic probe notices without any worker having to tap.
    t.outbox.db.pragma('max_page_count = 1073741823');
    await waitFor(() => t.state.cannotRegister.length === 0, { what: 'the outbox probe', timeoutMs: 15_000 });
    await waitFor(() => statuses().at(-1)?.cannotRegister === undefined, { what: 'status without a reason' });
    expect(t.pipeline.handleBadge(ANA)).toMatchObject({ kind: 'queued' });
    await waitFor(() => gw.storedCount() === queued + 1 && t.outbox.queued === 0, { what: 'every recorded tap stored' });
  });

  it('without a reader: the idle screen sends workers to the QR code, in the site language, and the status says why', async () => {
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0, language: 'de' }));
    const t = (term = await startSimTerminal(TID, gw.url, join(tmp.dir, 'outbox.db')));
    await waitFor(() => t.link.isConnected && t.state.settings.language === 'de', { what: 'config' });
    expect(t.spanel.lines[0]).toBe('Badge vorhalten');
    t.sreader.detach();
    expect(t.spanel.lines).toEqual(['Kein Leser', 'CIaO-QR scannen']);
    await waitFor(() => statuses().some((s) => JSON.stringify(s.cannotRegister) === '["no-reader"]'), { what: 'status with the reason' });
    t.sreader.attach();
    expect(t.spanel.lines[0]).toBe('Badge vorhalten');
    await waitFor(() => statuses().at(-1)?.cannotRegister === undefined, { what: 'status without a reason' });
  });

  it('offline is not a reason: taps are recorded and the idle screen only flags it', async () => {
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0 }));
    const t = (term = await startSimTerminal(TID, gw.url, join(tmp.dir, 'outbox.db')));
    await waitFor(() => t.link.isConnected && t.state.config && t.state.lookup(ANA));
    await gw.stop();
    await waitFor(() => !t.link.isConnected, { what: 'link down' });
    expect(t.state.cannotRegister).toEqual([]);
    expect(t.spanel.lines[1]).toMatch(/offline$/);
    expect(t.pipeline.handleBadge(ANA)).toMatchObject({ kind: 'queued' });
    expect(t.outbox.queued).toBe(1);
  });
});
