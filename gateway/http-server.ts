import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Logger } from '../shared/logging.ts';
import type { Registry } from 'prom-client';

/**
 * The gateway's HTTP server. `createHttpServer` makes the fastify instance; the gateway registers its
 * health and metrics routes with `operationsRoutes`, and other plugins (the site manager's admin API) are
 * registered on the same instance before `listen`.
 */
export function createHttpServer(opts: { logger: Logger }): FastifyInstance {
  // Scrapes of /health and /metrics would drown the log; other routes log their requests.
  const quiet = (url: string | undefined) => url === '/health' || url === '/metrics';
  return Fastify({
    loggerInstance: opts.logger.child({ component: 'http' }),
    logController: new LogController({ disableRequestLogging: (req) => quiet(req.url) }),
  }) as unknown as FastifyInstance;
}

export interface HealthSource {
  /** undefined when healthy, else a short reason. */
  problem(): string | undefined;
  details(): Record<string, unknown>;
}

export function operationsRoutes(opts: { registry: Registry; health: HealthSource }): FastifyPluginAsync {
  return async (app) => {
    app.get('/health', async (_req, reply) => {
      const problem = opts.health.problem();
      reply.code(problem ? 503 : 200);
      return { status: problem ? 'degraded' : 'ok', ...(problem ? { problem } : {}), ...opts.health.details() };
    });
    app.get('/metrics', async (_req, reply) => {
      reply.header('content-type', opts.registry.contentType);
      return opts.registry.metrics();
    });
  };
}
