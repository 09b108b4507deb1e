import { Engine } from '../engine/engine.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { buildApp } from './app.ts';

/**
 * The app's OpenAPI document as committed in client/openapi.json: built in process over an
 * in-memory store, so generating the client needs no server, port or data directory.
 */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const store = new SqliteStore({ path: ':memory:' });
  const engine = await Engine.open(store);
  const app = buildApp({ engine });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
    await engine.close();
    await store.close();
  }
}

/** The committed text: stable key order as Fastify emits it, two-space indent, final newline. */
export function openApiText(document: Record<string, unknown>): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
