import { parseArgs } from 'node:util';
import { VPCD_DEFAULT_PORT, VirtualCard, type CardKind } from './virtual-card.ts';

/**
 * Presents a virtual badge to pcscd's vpcd reader by hand, e.g. to try a terminal with "reader": "pcsc"
 * and no NFC hardware:
 *   node --import tsx simulator/vcard/cli.ts 04A1B2C3D4E5F6 [--type4] [--hold 2] [--port 35963]
 */
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    type4: { type: 'boolean', default: false },
    hold: { type: 'string', default: '2' },
    port: { type: 'string', default: String(VPCD_DEFAULT_PORT) },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const uid = positionals[0];
if (!uid) {
  process.stderr.write('usage: cli.ts <UID hex> [--type4] [--hold seconds] [--port n] [--host addr]\n');
  process.exit(2);
}
const kind: CardKind = values.type4 ? 'iso14443-4' : 'iso14443-3';
const card = new VirtualCard({ uid, kind, port: Number(values.port), host: values.host });
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
process.stdout.write('card removed\n');
