import { once } from 'node:events';
import { createWriteStream, fchmodSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { Presets, SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { limits } from '../config/limits.ts';
import { codesRefusal } from '../engine/campaign-handlers.ts';
import type { Engine } from '../engine/engine.ts';
import type { CliContext } from './main.ts';
import { positiveInt } from './main.ts';

function codeCount(value: string): number {
  const n = positiveInt(value);
  if (n > limits.codes_generate_max) throw new InvalidArgumentError(`at most ${limits.codes_generate_max}`);
  return n;
}

function chunkSize(value: string): number {
  const n = positiveInt(value);
  if (n > limits.codes_chunk_max) throw new InvalidArgumentError(`at most ${limits.codes_chunk_max}`);
  return n;
}

/** Writes text and waits when the stream's buffer is full, so a million codes never pile up in memory. */
async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/** A progress bar on stderr, only for a person watching (not in pipes, logs or tests). */
function progressBar(total: number): { update(done: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar(
    { format: 'codes [{bar}] {percentage}% {value}/{total} eta {eta}s', stream: process.stderr },
    Presets.shades_classic,
  );
  bar.start(total, 0);
  return { update: (done) => bar.update(done), stop: () => bar.stop() };
}

/** Generates `count` codes in engine batches of `chunk` and writes them as CSV: `code` header, one code a line. */
async function generate(
  engine: Engine,
  o: { campaign: string; count: number; chunk: number },
  out: Writable,
): Promise<void> {
  const { campaign: campaign_id, count } = o;
  const bar = progressBar(count);
  // A reader gone (`| head`): no more codes nobody reads, and the operator learns how many were made.
  let closed: unknown = null;
  const onError = (err: unknown) => {
    closed ??= err;
  };
  out.on('error', onError);
  let done = 0;
  try {
    await write(out, 'code\n');
    while (done < count && closed === null) {
      const n = Math.min(o.chunk, count - done);
      const { codes } = await engine.generateCodes(campaign_id, n, { actor: 'cli' });
      done += codes.length;
      await write(out, `${codes.join('\n')}\n`);
      bar.update(done);
    }
  } catch (err) {
    // A write waiting for 'drain' rejects with the stream's error, which onError heard first.
    if (closed === null) throw err;
  } finally {
    bar.stop();
    out.removeListener('error', onError);
  }
  if (closed !== null) {
    const why = closed instanceof Error ? closed.message : String(closed);
    throw new Error(`output closed after ${done} codes (${why}); the codes made are in the store and redeemable`);
  }
}

/** `vouchsafe codes generate`: unique bearer codes for a unique_codes campaign, as CSV. */
export function codesCommand(ctx: CliContext): Command {
  const codes = new Command('codes').description('unique codes of unique_codes campaigns');
  codes
    .command('generate')
    .description(`generate unique codes through the engine (in batches of ${limits.codes_chunk_max}) as CSV`)
    .requiredOption('--campaign <id>', 'a unique_codes campaign')
    .requiredOption('--count <n>', `how many (at most ${limits.codes_generate_max})`, codeCount)
    .option('--out <file>', 'CSV file to write (default: stdout)')
    .option(
      '--chunk <n>',
      `codes per engine batch (at most ${limits.codes_chunk_max})`,
      chunkSize,
      limits.codes_chunk_max,
    )
    .action(async (o: { campaign: string; count: number; chunk: number; out?: string }) => {
      // Before the file: a mistyped data dir must neither empty an earlier export nor leave a new store behind.
      const store = await ctx.openStore({ existing: true });
      const engine = await ctx.openEngine(store);
      // And before the file: a wrong campaign id must not empty an earlier export either.
      try {
        const refused = codesRefusal(await engine.getCampaign(o.campaign));
        if (refused) throw refused;
      } catch (err) {
        await engine.close();
        await store.close();
        throw err;
      }
      // Codes are bearer secrets: the file is readable by its owner only, also one that existed
      // (open's mode applies to a new file alone), and that before a code is written into it.
      const file = o.out ? createWriteStream(o.out, { mode: 0o600 }) : null;
      if (file) {
        const [fd] = (await once(file, 'open')) as [number];
        fchmodSync(fd, 0o600);
      }
      const out = file ?? process.stdout;
      try {
        await generate(engine, o, out);
      } finally {
        if (file) {
          file.end();
          await once(file, 'close');
        }
        await engine.close();
        await store.close();
      }
      process.stderr.write(`generated ${o.count} codes for ${o.campaign}${o.out ? ` into ${o.out}` : ''}\n`);
    });
  return codes;
}
