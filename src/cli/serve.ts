import { Command, InvalidArgumentError } from 'commander';
import { port } from '../config/config.ts';
import { makeLogger } from '../http/logger.ts';
import { startServer } from '../http/server.ts';
import { redisCounters } from './counters.ts';
import { startDetection } from './detection.ts';
import type { CliContext } from './main.ts';

/** `vouchsafe serve`: the API and console; prints the URL and, on first start, the admin key. */
function cliPort(value: string): number {
  // PORT unset or blank means the default; a blank --port (`--port "$P"`, P unset) is a mistake, not 0.
  if (value === '') throw new InvalidArgumentError('must be a port, 0-65535, got nothing');
  try {
    return port('--port', value, 0);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message.replace(/^--port /, ''));
  }
}

export function serveCommand(ctx: CliContext): Command {
  return new Command('serve')
    .description('serve the HTTP API and the admin console')
    .option('-p, --port <port>', 'port, 0-65535 (default: PORT or 8080; 0: any free one)', cliPort)
    .option('--host <host>', 'address to bind (default: HOST or 127.0.0.1)')
    .action(async (o: { port?: number; host?: string }) => {
      const { config } = ctx;
      const logger = makeLogger(config.log_level);
      const store = await ctx.openStore({ serving: true });
      const counters = await redisCounters(config.redis_url, logger);
      // Background work's lines: a failure (it carries its error) is a warning, the rest information.
      const log = (msg: string, data: Record<string, unknown>) =>
        'error' in data ? logger.warn(data, msg) : logger.info(data, msg);
      const engine = await ctx.openEngine(store, true, counters, log);
      startDetection(engine, config.redis_url, logger);
      const server = await startServer({
        engine,
        port: o.port ?? config.port,
        host: o.host ?? config.host,
        logger,
        bootstrap: { data_dir: config.data_dir, admin_key: config.admin_key },
        events: { allow_private: config.webhook_allow_private, nats_url: config.nats_url },
        trust_proxy: config.trust_proxy,
        ...(config.audit_digest_dir !== null && config.audit_digest_interval_s > 0
          ? { audit_digests: { dir: config.audit_digest_dir, interval_ms: config.audit_digest_interval_s * 1000 } }
          : {}),
      });
      const where = store.kind === 'sqlite' ? `SQLite in ${config.data_dir}` : 'PostgreSQL';
      process.stdout.write(`vouchsafe: serving on ${server.url} (store: ${where}); console at ${server.url}/console\n`);
    });
}
