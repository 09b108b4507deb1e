import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { type Config, loadConfig } from '../config/config.ts';
import type { Counters } from '../engine/counters.ts';
import { Engine } from '../engine/engine.ts';
import type { IncidentLog } from '../engine/incidents/incidents.ts';
import { openStore } from '../store/open-store.ts';
import type { Store } from '../store/port.ts';
import { PostgresStore } from '../store/postgres/postgres-store.ts';
import { NewerSchema } from '../store/schema-version.ts';
import { auditCommand } from './audit.ts';
import { campaignsCommand } from './campaigns.ts';
import { codesCommand } from './codes.ts';
import { keysCommand } from './keys.ts';
import { serveCommand } from './serve.ts';
import { simulateCommand } from './simulate.ts';
import { dataDirOption } from './store-options.ts';
import { verifyCommand } from './verify.ts';

export interface CliContext {
  config: Config;
  /** Opens the configured store (DATABASE_URL, or SQLite in the data dir), migrated. */
  openStore: (over?: {
    database_url?: string;
    data_dir?: string;
    serving?: boolean;
    existing?: boolean;
    /** For a command that only reads: an existing store at the schema of this build, opened and left as it is (not migrated). */
    read_only?: boolean;
  }) => Promise<Store>;
  /** `counters`: shared velocity counters (Redis); default in process. */
  openEngine: (store: Store, sweep?: boolean, counters?: Counters, log?: IncidentLog) => Promise<Engine>;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/**
 * The configuration is read when a command first needs it, inside the command's action: a bad
 * variable (PORT=abc) is then one `vouchsafe: ...` line and exit 1, not a stack trace, and
 * `--help` still works.
 */
function context(): CliContext {
  let loaded: Config | undefined;
  const cli: CliContext = {
    get config() {
      loaded ??= loadConfig();
      return loaded;
    },
    openStore: async (over = {}) => {
      const { config } = cli;
      const store = openStore({
        // A data dir named on the command line is the SQLite store there: DATABASE_URL in the
        // environment must not send the command to another store (verify --data-dir said OK for it).
        database_url: over.database_url ?? (over.data_dir === undefined ? config.database_url : undefined),
        data_dir: over.data_dir ?? config.data_dir,
        background_checkpoint: over.serving ?? false,
        existing: over.existing ?? false,
        read_only: over.read_only ?? false,
      });
      if ((over.existing || over.read_only) && store instanceof PostgresStore && !(await store.hasSchema())) {
        await store.close();
        throw new Error('no Vouchsafe schema in that database: check --database-url or DATABASE_URL');
      }
      if (!over.read_only) {
        await store.migrate();
        return store;
      }
      // A reading command changes nothing, the schema included: upgrading it is `migrate`'s, done
      // when the operator means to (servers of the older version may still run against it).
      const [pending, newer] = await Promise.all([store.pendingMigrations(), store.newerMigrations()]).catch(
        async (err: unknown) => {
          await store.close();
          throw err;
        },
      );
      if (newer.length > 0) {
        await store.close();
        throw new NewerSchema(newer);
      }
      if (pending.length > 0) {
        await store.close();
        throw new Error(
          `the store is older than this vouchsafe (${pending.length} migration${pending.length === 1 ? '' : 's'} not applied: ${pending.join(', ')}); this command only reads and leaves it as it is: run vouchsafe migrate first`,
        );
      }
      return store;
    },
    openEngine: (store, sweep = false, counters, log) =>
      Engine.open(store, {
        approval_threshold_minor: cli.config.approval_threshold_minor,
        sweep,
        ...(counters ? { counters } : {}),
        ...(log ? { log } : {}),
      }),
  };
  return cli;
}

/** This build's version, as package.json names it (`vouchsafe --version`). */
function version(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg ? String(pkg.version) : 'unknown';
}

const program = new Command('vouchsafe')
  .description('Vouchsafe: a coupon and promotion engine that cannot leak money')
  .version(version(), '-V, --version', 'print the version')
  .showHelpAfterError();
const ctx = context();
program.addCommand(serveCommand(ctx));
program
  .command('migrate')
  .description('create or upgrade the schema of the configured store')
  .option('--database-url <url>', 'PostgreSQL URL (default: DATABASE_URL)')
  .addOption(dataDirOption())
  .action(async (o: { databaseUrl?: string; dataDir?: string }) => {
    const store = await ctx.openStore({
      ...(o.databaseUrl ? { database_url: o.databaseUrl } : {}),
      ...(o.dataDir ? { data_dir: o.dataDir } : {}),
    });
    await store.close();
    process.stdout.write(`migrated the ${store.kind} store\n`);
  });
program.addCommand(keysCommand(ctx));
program.addCommand(campaignsCommand(ctx));
program.addCommand(codesCommand(ctx));
program.addCommand(verifyCommand(ctx));
program.addCommand(auditCommand(ctx));
program.addCommand(simulateCommand());

/**
 * Wrong usage (an unknown command or option, a missing or invalid argument) exits 64 (sysexits'
 * EX_USAGE) once commander has said what was wrong, so a script tells a typo from `verify`'s 1 (a
 * violation, or a command that failed); help and --version exit 0.
 */
const usage_exit_code = 64;

function throwOnUsageErrors(command: Command): void {
  command.exitOverride();
  for (const sub of command.commands) throwOnUsageErrors(sub);
}
throwOnUsageErrors(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : usage_exit_code);
  process.stderr.write(`vouchsafe: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
