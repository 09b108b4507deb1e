import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fastifyHelmet } from '@fastify/helmet';
import { fastifyStatic } from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where `npm run build:console` (Vite) writes the console; built, never committed. */
export const consoleDistDir = fileURLToPath(new URL('../console/dist/', import.meta.url));

export interface ConsoleOptions {
  /** The built console (index.html + assets/); default src/console/dist. */
  dist_dir?: string;
}

/**
 * The console's own policy: only files from this origin run, nothing inline, no framing.
 * Scoped to the console's routes: the API answers JSON and /docs (Swagger UI) keeps its own.
 */
const contentSecurityPolicy = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    fontSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
};

function sendIndex(reply: FastifyReply, dist_dir: string): FastifyReply {
  if (!existsSync(`${dist_dir}/index.html`)) {
    return reply
      .code(503)
      .type('text/plain; charset=utf-8')
      .send('The admin console is not built. Run `npm run build:console` (npm start and npm test do it for you).\n');
  }
  // The shell must never be cached: it names the current hashed assets.
  return reply.header('cache-control', 'no-cache').sendFile('index.html', dist_dir, { cacheControl: false });
}

/** The admin web console at /console: hashed assets cached for good, every other path the app shell. */
export async function consoleRoutes(app: FastifyInstance, opts: ConsoleOptions): Promise<void> {
  const dist_dir = opts.dist_dir ?? consoleDistDir;
  await app.register(fastifyHelmet, { global: true, contentSecurityPolicy, frameguard: { action: 'deny' } });
  await app.register(fastifyStatic, { root: dist_dir, serve: false });
  const hide = { schema: { hide: true } };
  app.get('/console/assets/*', hide, (request, reply) => {
    const file = (request.params as { '*': string })['*'];
    return reply.sendFile(`assets/${file}`, dist_dir, { immutable: true, maxAge: '365d' });
  });
  // Deep links (/console/campaigns/cmp_...) load the shell; the console routes on the client.
  app.get('/console', hide, (_request, reply) => sendIndex(reply, dist_dir));
  app.get('/console/*', hide, (_request, reply) => sendIndex(reply, dist_dir));
}
