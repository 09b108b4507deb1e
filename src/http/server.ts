import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { TrustProxy } from '../config/config.ts';
import { limits } from '../config/limits.ts';
import type { Engine } from '../engine/engine.ts';
import { EventSystem, type EventsOptions } from '../events/events.ts';
import { buildApp } from './app.ts';
import { startAuditDigests } from './audit-digests.ts';
import { type BootstrapResult, ensureAdminKey } from './bootstrap-key.ts';
import { closeWithGrace } from './close-grace.ts';

export interface ServerOptions {
  engine: Engine;
  port: number;
  host: string;
  logger?: FastifyBaseLogger;
  /** When given, an admin key is created if the store has none (see bootstrap-key.ts). */
  bootstrap?: { data_dir: string; admin_key?: string | undefined; print?: (line: string) => void };
  /** Which proxies in front may name the client (request.ip, for the failed-authentication limit). */
  trust_proxy?: TrustProxy;
  /** Close on SIGINT / SIGTERM (default true). */
  handle_signals?: boolean;
  /** Webhooks and NATS (events/); default: private webhook addresses refused, no NATS. */
  events?: Omit<EventsOptions, 'log'>;
  /** Audit digests taken at start (before this resolves) and then every interval (audit-digests.ts); none when absent. */
  audit_digests?: { dir: string; interval_ms: number };
}

export interface RunningServer {
  app: FastifyInstance;
  /** The bound port (useful with port 0). */
  port: number;
  url: string;
  bootstrap: BootstrapResult | null;
  /** Stops accepting, finishes in-flight requests, drains the engine, closes the store. Idempotent. */
  close(): Promise<void>;
}

/** Starts the HTTP server with graceful shutdown. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { engine } = opts;
  const bootstrap = opts.bootstrap
    ? await ensureAdminKey({ store: engine.store, ids: engine.ids, now_ms: engine.now(), ...opts.bootstrap })
    : null;
  const events = new EventSystem(engine, {
    ...(opts.events ?? { allow_private: false }),
    ...(opts.logger ? { log: opts.logger } : {}),
  });
  const app = buildApp({
    engine,
    webhooks: events.webhooks,
    process_metrics: true,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.trust_proxy !== undefined ? { trust_proxy: opts.trust_proxy } : {}),
  });
  await app.listen({ port: opts.port, host: opts.host, backlog: limits.listen_backlog });
  await events.start();
  const digests = opts.audit_digests
    ? await startAuditDigests(engine.store, {
        ...opts.audit_digests,
        now: () => engine.now(),
        log: (msg, data) => ('error' in data ? app.log.warn(data, msg) : app.log.info(data, msg)),
        announce: (taken) => events.publish('audit.digest', taken),
      })
    : null;
  const port = (app.server.address() as AddressInfo).port;
  let closing: Promise<void> | null = null;
  let removeSignals = () => {};
  const close = () => {
    removeSignals();
    closing ??= shutdown(app, engine, events, digests);
    return closing;
  };
  if (opts.handle_signals ?? true) removeSignals = installSignals(app, close);
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return { app, port, url: `http://${host}:${port}`, bootstrap, close };
}

async function shutdown(
  app: FastifyInstance,
  engine: Engine,
  events: EventSystem,
  digests: { stop(): Promise<void> } | null,
): Promise<void> {
  app.log.info('shutting down: no new requests, draining the engine');
  await closeWithGrace(app, limits.shutdown_grace_ms);
  await digests?.stop();
  await engine.close();
  // Attempts in flight finish (each within its timeout); what is left stays queued for the next start.
  await events.stop();
  await engine.store.close();
  app.log.info('shut down');
}

/** Returns a function that removes the handlers again. */
function installSignals(app: FastifyInstance, close: () => Promise<void>): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    app.log.info({ signal }, 'signal received');
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
}
