/**
 * Child process of the relay benchmark: the ack responder on its own core's worth of event loop, as the
 * gateway's ingest would be. Prints `{"ready": true}` once subscribed; stops on SIGTERM or SIGINT.
 * Usage: node --import tsx bench/relay/ack-responder-main.ts mqtt://127.0.0.1:PORT
 */
import { startAckResponder } from './ack-responder.ts';

const url = process.argv[2];
if (!url) {
  process.stderr.write('usage: ack-responder-main.ts <broker url>\n');
  process.exit(2);
}
const responder = await startAckResponder(url);
process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
const stop = async () => {
  await responder.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
