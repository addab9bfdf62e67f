import { createInterface } from 'node:readline';
import { createLogger } from '../../../shared/logging.ts';
import { loadTerminalConfig } from '../../../terminal/config.ts';
import { startTerminal } from '../../../terminal/main.ts';
import { SimulatedPanel } from '../../../terminal/adapters/simulated-panel.ts';
import { SimulatedReader } from '../../../terminal/adapters/simulated-reader.ts';

/**
 * A terminal in its own process for crash tests. stdin: `present <UID>` lines. stdout: one JSON event
 * per line (`ready`, `written` after each outbox commit, `feedback`). With CRASH_AFTER_SEQ=n it kills
 * itself with SIGKILL right after committing tap n: after the outbox write, before feedback and publish.
 */
const configPath = process.argv[2]!;
const crashAfter = process.env.CRASH_AFTER_SEQ ? Number(process.env.CRASH_AFTER_SEQ) : null;
const out = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

const reader = new SimulatedReader();
const panel = new SimulatedPanel();
const handle = await startTerminal(loadTerminalConfig(configPath), {
  reader,
  panel,
  logger: createLogger('terminal-child', { level: 'silent' }),
  afterOutboxWrite: (tap) => {
    out({ event: 'written', seq: tap.seq, id: tap.id });
    if (crashAfter !== null && tap.seq === crashAfter) process.kill(process.pid, 'SIGKILL');
  },
});
panel.on('lcd', (lines) => out({ event: 'feedback', lines }));
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'present' && arg) reader.present(arg);
  if (cmd === 'stop') void handle.stop().then(() => process.exit(0));
});
out({ event: 'ready', queued: handle.outbox.queued });
if (process.env.MEMORY_TRACE) {
  setInterval(() => {
    const m = process.memoryUsage();
    process.stderr.write(`mem rss=${Math.round(m.rss / 1e6)} heap=${Math.round(m.heapUsed / 1e6)}/${Math.round(m.heapTotal / 1e6)} ext=${Math.round(m.external / 1e6)} queued=${handle.outbox.queued}\n`);
  }, 1000).unref();
}
