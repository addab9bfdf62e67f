import type { FastifyInstance, RouteOptions } from 'fastify';
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';

/**
 * The admin API's OpenAPI document, made at its first request instead of at every start. @fastify/swagger
 * (with the YAML library it loads) took about a tenth of the gateway's start-up, for a document few starts
 * are ever asked for. The routes are recorded as they are added to `app` (and its child plugins, as
 * @fastify/swagger itself would see them); the first request registers @fastify/swagger on an instance of
 * its own that never listens, adds the same routes with the same schemas there, and keeps the document it
 * makes. Nothing is validated or served by that instance: its routes answer nothing and compile no schema.
 */
export function openApiDocument(app: FastifyInstance, options: FastifyDynamicSwaggerOptions): () => Promise<unknown> {
  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    // Fastify adds a HEAD route beside each GET; the instance below adds its own.
    if (route.method !== 'HEAD') routes.push(route);
  });
  let document: Promise<unknown> | undefined;
  return () => {
    document ??= make(routes, options).catch((err: unknown) => {
      document = undefined;
      throw err;
    });
    return document;
  };
}

async function make(routes: RouteOptions[], options: FastifyDynamicSwaggerOptions): Promise<unknown> {
  const [{ default: Fastify }, { default: swagger }] = await Promise.all([import('fastify'), import('@fastify/swagger')]);
  const documenter = Fastify();
  try {
    documenter.setValidatorCompiler(() => () => true);
    documenter.setSerializerCompiler(() => (data) => JSON.stringify(data));
    await documenter.register(swagger, options);
    await documenter.register(async (scope) => {
      for (const r of routes) scope.route({ method: r.method, url: r.url, schema: r.schema, handler: async () => null });
    });
    await documenter.ready();
    return documenter.swagger();
  } finally {
    await documenter.close();
  }
}
