import { startPlainAedes } from './relay/aedes-broker.ts';
import { startAckResponder } from './relay/ack-responder.ts';
import { runLoad, formatLoadResult } from '../simulator/load/index.ts';
const b = await startPlainAedes();
const r = await startAckResponder(b.url);
const terms = Array.from({length: 50}, (_, i) => ({id: `t${i}`, secret: 'x'}));
for (const rate of [100, 500, 2000]) {
const res2 = await runLoad({url: b.url, terminals: terms, rate, duration: 2, progress: false});
console.log(formatLoadResult(res2));
}
await r.close(); await b.close();
