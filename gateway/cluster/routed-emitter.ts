import type { MQEmitter, Message } from 'mqemitter';

type Listener = (message: Message, done: () => void) => void;

/** Where a topic's messages travel: within this instance only, or to every instance of the cluster. */
export type TopicScope = 'local' | 'cluster';

/**
 * Which messages cross instances. Terminals' topics (`ciao/v1/terminals/...`) stay local: every instance
 * publishes every terminal's retained config and roster itself, from the shared database; each instance sends
 * `shifts` messages to the terminals connected to it; taps and status are taken in `authorizePublish` and
 * have no subscriber anywhere. So a terminal's connection, subscriptions, PUBACKs and retained messages never
 * wait for Redis, and still work while Redis is down. What crosses: Aedes' own announcements (`$SYS/`: a
 * client that connected to another instance closes its older connection here) and the cluster's own channel
 * (`ciao/cluster/`: acks for a terminal connected elsewhere, shift changes).
 */
export function topicScope(topic: string): TopicScope {
  return topic.startsWith('$SYS/') || topic.startsWith('ciao/cluster/') ? 'cluster' : 'local';
}

/**
 * The message bus given to Aedes in a cluster: one MQEmitter interface over two emitters, an in-process
 * one for local topics and a Redis-backed one for the cluster's topics (`topicScope`). A subscription and
 * a message with the same topic always go to the same side, so each message is delivered once.
 */
export class RoutedEmitter implements MQEmitter {
  constructor(
    private readonly local: MQEmitter,
    private readonly cluster: MQEmitter,
    private readonly scope: (topic: string) => TopicScope = topicScope,
  ) {}

  get current(): number {
    return this.local.current + this.cluster.current;
  }

  get concurrent(): number {
    return this.local.concurrent;
  }

  private side(topic: string): MQEmitter {
    return this.scope(topic) === 'cluster' ? this.cluster : this.local;
  }

  on(topic: string, listener: Listener, callback?: () => void): this {
    this.side(topic).on(topic, listener, callback);
    return this;
  }

  emit(message: Message, callback?: (error?: Error) => void): void {
    this.side(message.topic).emit(message, callback);
  }

  removeListener(topic: string, listener: Listener, callback?: () => void): void {
    this.side(topic).removeListener(topic, listener, callback);
  }

  /** Closes the local side; the Redis side belongs to the cluster bus, which closes it after the broker. */
  close(callback: () => void): void {
    this.local.close(callback);
  }
}
