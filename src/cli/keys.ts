import { Command, InvalidArgumentError, Option } from 'commander';
import { limits } from '../config/limits.ts';
import { atMostChars } from '../domain/text.ts';
import { linkAudit } from '../engine/audit.ts';
import { IdGenerator } from '../engine/ids.ts';
import { rotateApiKey } from '../http/api-key-lifecycle.ts';
import { createApiKey, type Scope } from '../http/api-keys.ts';
import type { CliContext } from './main.ts';

/** The API's rule for names (1-128 characters, code points), so a key made here lists and rotates there. */
function keyName(value: string): string {
  if (value.length === 0 || !atMostChars(value, limits.name_chars_max)) {
    throw new InvalidArgumentError(`must be 1-${limits.name_chars_max} characters`);
  }
  return value;
}

const scopes: Scope[] = ['admin', 'approver', 'checkout', 'read'];

/** `vouchsafe keys create|list|revoke`: API keys, stored hashed; a secret is shown once. */
export function keysCommand(ctx: CliContext): Command {
  const keys = new Command('keys').description('manage API keys');
  keys
    .command('create')
    .description('create an API key and print its secret once')
    .requiredOption('--name <name>', `what the key is for (1-${limits.name_chars_max} characters)`, keyName)
    .addOption(new Option('--scope <scope...>', 'scopes').choices(scopes).default(['read']))
    .action(async (o: { name: string; scope: Scope[] }) => {
      // An existing store only: a mistyped data dir would otherwise get a new store and a key no server knows.
      const store = await ctx.openStore({ existing: true });
      const { record, secret } = await createApiKey(store, new IdGenerator(), Date.now(), {
        name: o.name,
        scopes: o.scope,
        actor: 'cli',
        created_by: null,
      });
      await store.close();
      process.stdout.write(`${JSON.stringify({ id: record.id, key: secret, scopes: record.scopes })}\n`);
    });
  keys
    .command('list')
    .description('list API keys (never their secrets)')
    .action(async () => {
      const store = await ctx.openStore({ read_only: true });
      const list = await store.listApiKeys();
      await store.close();
      for (const k of list) {
        const state = k.revoked_at_ms === null ? 'active' : `revoked ${new Date(k.revoked_at_ms).toISOString()}`;
        process.stdout.write(`${k.id}\t${k.name}\t${k.scopes.join(',')}\t${state}\n`);
      }
    });
  keys
    .command('revoke <id>')
    .description('revoke an API key at once')
    .action(async (id: string) => {
      const store = await ctx.openStore({ existing: true });
      const now_ms = Date.now();
      const done = await store.revokeApiKey(id, now_ms, (prev) =>
        linkAudit(
          { chain: 'platform', at_ms: now_ms, actor: 'cli', action: 'api_key.revoked', subject: id, data: {} },
          prev,
        ),
      );
      await store.close();
      if (!done) throw new Error(`no active key ${id}`);
      process.stdout.write(`revoked ${id}\n`);
    });
  keys
    .command('rotate <id>')
    .description('replace a key: a new one with the same name and scopes (printed once), the old one revoked')
    .action(async (id: string) => {
      const store = await ctx.openStore({ existing: true });
      try {
        const { record, secret } = await rotateApiKey(store, new IdGenerator(), Date.now(), id, {
          actor: 'cli',
          created_by: null,
        });
        const out = { id: record.id, key: secret, name: record.name, scopes: record.scopes, replaces: id };
        process.stdout.write(`${JSON.stringify(out)}\n`);
      } finally {
        await store.close();
      }
    });
  return keys;
}
