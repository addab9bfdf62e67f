import { describe, expect, it } from 'vitest';
import mqemitter from 'mqemitter';
import { RoutedEmitter, topicScope } from '../../gateway/cluster/routed-emitter.ts';

/**
 * The emitter a clustered broker delivers with: terminals' topics within the process, the cluster's topics
 * (Aedes' `$SYS/` announcements, `ciao/cluster/`) on the shared side. Two in-process emitters stand for the
 * two sides here; test/cluster/redis-cluster.test.ts runs the same with Redis as the shared side.
 */
describe('the routed emitter of a clustered broker', () => {
  it('keeps terminals\u2019 topics local and sends announcements and cluster messages to the shared side', () => {
    expect(topicScope('ciao/v1/terminals/t1/taps')).toBe('local');
    expect(topicScope('ciao/v1/terminals/t1/acks')).toBe('local');
    expect(topicScope('ciao/v1/terminals/t1/roster')).toBe('local');
    expect(topicScope('$SYS/abc/new/clients')).toBe('cluster');
    expect(topicScope('$SYS/+/heartbeat')).toBe('cluster');
    expect(topicScope('ciao/cluster/acks')).toBe('cluster');
  });

  it('delivers each message once, on the side of its topic, wildcards included', async () => {
    const local = mqemitter({ matchEmptyLevels: true });
    const shared = mqemitter({ matchEmptyLevels: true });
    const routed = new RoutedEmitter(local, shared);
    const got: string[] = [];
    const on = (topic: string) =>
      new Promise<void>((resolve) =>
        routed.on(
          topic,
          (m, done) => {
            got.push(`${topic} <- ${m.topic}`);
            done();
          },
          resolve,
        ),
      );
    await on('ciao/v1/terminals/t1/acks');
    await on('$SYS/+/new/clients');
    const emit = (topic: string) => new Promise<void>((resolve) => routed.emit({ topic }, () => resolve()));
    await emit('ciao/v1/terminals/t1/acks');
    await emit('$SYS/b1/new/clients');
    await emit('ciao/v1/terminals/t2/acks');
    expect(got).toEqual(['ciao/v1/terminals/t1/acks <- ciao/v1/terminals/t1/acks', '$SYS/+/new/clients <- $SYS/b1/new/clients']);

    // A message emitted straight on the shared side (another instance's, through Redis) reaches the routed
    // listener; one on the local side for a cluster topic does not (it was never subscribed there).
    await new Promise<void>((resolve) => shared.emit({ topic: '$SYS/b2/new/clients' }, () => resolve()));
    await new Promise<void>((resolve) => local.emit({ topic: '$SYS/b3/new/clients' }, () => resolve()));
    expect(got.slice(2)).toEqual(['$SYS/+/new/clients <- $SYS/b2/new/clients']);
    expect(routed.current).toBe(0);
  });
});
