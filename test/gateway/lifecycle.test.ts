import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import { Lifecycle, type Component } from '../../gateway/lifecycle/lifecycle.ts';

const logger = createLogger('test', { level: 'silent' });

function recording(events: string[], name: string, opts: { failStart?: boolean; failStop?: boolean } = {}): Component<string> {
  return {
    name,
    async start() {
      events.push(`start ${name}`);
      if (opts.failStart) throw new Error(`${name} cannot start`);
      return {
        value: `${name}-value`,
        stop: async () => {
          events.push(`stop ${name}`);
          if (opts.failStop) throw new Error(`${name} cannot stop`);
        },
      };
    },
  };
}

describe('gateway lifecycle', () => {
  it('starts components in order, hands each its value, and stops them in reverse', async () => {
    const events: string[] = [];
    const run = new Lifecycle(logger);
    expect(await run.start(recording(events, 'database'))).toBe('database-value');
    await run.start(recording(events, 'broker'));
    await run.start(recording(events, 'listeners'));
    expect(run.order).toEqual(['database', 'broker', 'listeners']);
    await run.stop();
    await run.stop(); // a second stop does nothing more
    expect(events).toEqual(['start database', 'start broker', 'start listeners', 'stop listeners', 'stop broker', 'stop database']);
  });

  it('a failed stop does not keep the components below it running, and its error reaches the caller', async () => {
    const events: string[] = [];
    const run = new Lifecycle(logger);
    await run.start(recording(events, 'database'));
    await run.start(recording(events, 'forwarder', { failStop: true }));
    await run.start(recording(events, 'http'));
    await expect(run.stop()).rejects.toThrow('forwarder cannot stop');
    expect(events.slice(3)).toEqual(['stop http', 'stop forwarder', 'stop database']);
  });

  it('nothing starts once stopping has begun', async () => {
    const events: string[] = [];
    const run = new Lifecycle(logger);
    await run.start(recording(events, 'database'));
    const stopping = run.stop();
    await expect(run.start(recording(events, 'late'))).rejects.toThrow(/stopping/);
    await stopping;
    expect(events).toEqual(['start database', 'stop database']);
  });
});
