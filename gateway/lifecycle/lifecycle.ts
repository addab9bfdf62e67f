import type { Logger } from '../../shared/logging.ts';

/**
 * The gateway is a list of components started in order and stopped in reverse, the way fastify's plugins
 * (avvio) boot: each component gets what the earlier ones made, so nothing reaches forward to a part that
 * may not exist yet. A component that fails to start stops the ones already started, and the error goes to
 * the caller (`ciao gateway` exits non-zero with it).
 */
export interface Component<T> {
  readonly name: string;
  start(): Promise<Started<T>> | Started<T>;
}

export interface Started<T> {
  value: T;
  /** Undo what start did; called once, in reverse order of starting. */
  stop?(): Promise<void> | void;
}

export class Lifecycle {
  private readonly started: Array<{ name: string; stop?: () => Promise<void> | void }> = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  /** Names of the components started so far, in order. */
  get order(): string[] {
    return this.started.map((s) => s.name);
  }

  async start<T>(component: Component<T>): Promise<T> {
    if (this.stopping) throw new Error(`cannot start ${component.name}: the gateway is stopping`);
    const t0 = performance.now();
    const s = await component.start();
    this.started.push({ name: component.name, stop: s.stop });
    this.logger.debug({ component: component.name, ms: Math.round(performance.now() - t0) }, 'component started');
    return s.value;
  }

  /** Stops every started component in reverse order; an error in one does not keep the others running. */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      const errors: unknown[] = [];
      for (const s of [...this.started].reverse()) {
        try {
          await s.stop?.();
          this.logger.debug({ component: s.name }, 'component stopped');
        } catch (err) {
          this.logger.error({ err, component: s.name }, 'component failed to stop cleanly');
          errors.push(err);
        }
      }
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors, `${errors.length} components failed to stop cleanly`);
    })());
  }
}
