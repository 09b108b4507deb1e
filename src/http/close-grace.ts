import type { FastifyInstance } from 'fastify';

/**
 * Closes the app gracefully, but not forever: in-flight requests get `grace_ms` to finish,
 * then every connection left is cut. Without the bound, one client that opened a socket and
 * sent nothing (or a keep-alive socket Node does not see as idle) held shutdown open for minutes.
 */
export async function closeWithGrace(app: FastifyInstance, grace_ms: number): Promise<void> {
  const force = setTimeout(() => app.server.closeAllConnections(), grace_ms);
  force.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(force);
  }
}
