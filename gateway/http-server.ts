import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { createRequire } from 'node:module';
import type SerializerSelector from '@fastify/fast-json-stringify-compiler';
import type ValidatorSelector from '@fastify/ajv-compiler';
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
    schemaController: { compilersFactory: { buildSerializer: lazySerializers, buildValidator: lazyValidators } },
  }) as unknown as FastifyInstance;
}

/**
 * Fastify's own compilers, Ajv for request schemas and fast-json-stringify for responses, loaded and run for a
 * route the first time it needs them rather than at start: loading them and compiling the admin API's schemas
 * up front was about a sixth of the gateway's start-up, for routes most starts never see called. Fastify
 * reads a failed validation's `errors` from the function it was given.
 */
const load = createRequire(import.meta.url);
type SerializerFactory = ReturnType<typeof SerializerSelector>;
type ValidatorFactory = ReturnType<typeof ValidatorSelector>;
let serializers: SerializerFactory | undefined;
let validators: ValidatorFactory | undefined;

function lazySerializers(...args: Parameters<SerializerFactory>) {
  let compileFor: ReturnType<SerializerFactory> | undefined;
  return (route: Parameters<ReturnType<SerializerFactory>>[0]) => {
    let serialize: ReturnType<ReturnType<SerializerFactory>> | undefined;
    return (doc: unknown) => {
      compileFor ??= (serializers ??= (load('@fastify/fast-json-stringify-compiler') as typeof SerializerSelector)())(...args);
      serialize ??= compileFor(route);
      return serialize(doc);
    };
  };
}

function lazyValidators(...args: Parameters<ValidatorFactory>) {
  let compileFor: ReturnType<ValidatorFactory> | undefined;
  return (route: Parameters<ReturnType<ValidatorFactory>>[0]) => {
    let compiled: ReturnType<ReturnType<ValidatorFactory>> | undefined;
    const validate = ((data: unknown) => {
      compileFor ??= (validators ??= (load('@fastify/ajv-compiler') as typeof ValidatorSelector)())(...args);
      compiled ??= compileFor(route);
      const result = compiled(data);
      (validate as { errors?: unknown }).errors = (compiled as { errors?: unknown }).errors;
      return result;
    }) as ReturnType<ReturnType<ValidatorFactory>>;
    return validate;
  };
}

/** A validator compiler of the caller's options (the admin API's strict one), as lazy as Fastify's here. */
export function lazyValidatorCompiler(options: Parameters<ValidatorFactory>[1]): ReturnType<ValidatorFactory> {
  return lazyValidators({}, options);
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
