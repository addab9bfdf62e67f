import { parseArgs } from 'node:util';
import { VPCD_DEFAULT_PORT } from './virtual-card.ts';
import { BADGE_KINDS, virtualBadge, type BadgeKind } from './badges.ts';
import { ndefUriFile } from './ntag424/card-state.ts';

/**
 * Presents a virtual badge to pcscd's vpcd reader by hand, e.g. to try a terminal with "reader": "pcsc"
 * and no NFC hardware:
 *   node --import tsx simulator/vcard/cli.ts 04A1B2C3D4E5F6 [--type4] [--hold 2] [--port 35963]
 *   node --import tsx simulator/vcard/cli.ts 04A1B2C3D4E5F6 --badge ntag424 --state badge.json
 *   node --import tsx simulator/vcard/cli.ts 04A1B2C3D4E5F6 --badge replay --replay-url 'https://…?picc_data=…&cmac=…'
 */
const USAGE = `usage: cli.ts <UID hex> [--badge ${BADGE_KINDS.join('|')}] [--state FILE] [--replay-url URL] [--type4] [--hold seconds] [--port n] [--host addr]\n`;
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    badge: { type: 'string', default: 'plain' },
    state: { type: 'string' },
    'replay-url': { type: 'string' },
    type4: { type: 'boolean', default: false },
    hold: { type: 'string', default: '2' },
    port: { type: 'string', default: String(VPCD_DEFAULT_PORT) },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const uid = positionals[0];
const kind = values.badge as BadgeKind;
if (!uid) {
  process.stderr.write(USAGE);
  process.exit(2);
}
if (!BADGE_KINDS.includes(kind)) {
  process.stderr.write(`--badge: must be one of ${BADGE_KINDS.join(', ')}, got ${JSON.stringify(values.badge)}\n${USAGE}`);
  process.exit(2);
}
if (kind === 'replay' && !values['replay-url']) {
  process.stderr.write(`--replay-url: is required with --badge replay (the URL read from the genuine badge)\n${USAGE}`);
  process.exit(2);
}
let badge;
try {
  badge = virtualBadge({
    uid,
    kind,
    cardKind: values.type4 ? 'iso14443-4' : 'iso14443-3',
    stateFile: values.state,
    replayNdef: values['replay-url'] ? ndefUriFile(values['replay-url']) : undefined,
    port: Number(values.port),
    host: values.host,
  });
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}
const { card, chip } = badge;
card.on('apdu', (cmd, res) => process.stdout.write(`apdu ${cmd.toString('hex')} -> ${res?.toString('hex') ?? '(no answer)'}\n`));
try {
  await card.presentToReader();
} catch (err) {
  process.stderr.write(`cannot reach vpcd on ${values.host}:${values.port} (is pcscd running with vsmartcard-vpcd?): ${(err as Error).message}\n`);
  process.exit(1);
}
process.stdout.write(`card ${uid} (${kind}) on the reader for ${values.hold}s\n`);
await new Promise((r) => setTimeout(r, Number(values.hold) * 1000));
await card.remove();
if (chip?.lastServed) {
  const nlen = chip.lastServed.readUInt16BE(0);
  const record = chip.lastServed.subarray(2, 2 + nlen);
  const scheme = record[4] === 0x04 ? 'https://' : record[4] === 0x03 ? 'http://' : '';
  process.stdout.write(`SUN message served: ${scheme}${record.subarray(5).toString('latin1')} (read counter ${chip.readCounter})\n`);
}
process.stdout.write('card removed\n');
