import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { limits } from '../config/limits.ts';
import type { EventLog } from './dispatcher.ts';

/** Every event goes to subject `vouchsafe.<type>` on this stream. */
export const nats_stream = 'VOUCHSAFE';
export const nats_subjects = 'vouchsafe.>';

export function natsSubject(type: string): string {
  return `vouchsafe.${type}`;
}

const connect_timeout_ms = 5_000;

/**
 * The URL without a password, for the log. A user name without a password is a token (NATS token
 * authentication, `nats://<token>@host`), so it goes too.
 */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === '') u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return 'NATS_URL (unparsable)';
  }
}

/** Creates the stream unless it exists (another node, or an operator, may have made it with other limits). */
async function ensureStream(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(nats_stream);
  } catch (err) {
    if (!(err instanceof Error) || err.name !== 'StreamNotFoundError') throw err;
    await jsm.streams.add({ name: nats_stream, subjects: [nats_subjects] });
  }
}

/**
 * Publishes events to NATS JetStream. It connects on first use and again after a failed
 * connect, so an unreachable server only delays events (their deliveries retry); the event
 * id is the JetStream message id, so a retried publish is stored once (duplicate window).
 */
export class NatsSink {
  private conn: Promise<{ nc: NatsConnection; js: JetStreamClient }> | null = null;
  private closed = false;
  /** Whether the last connect failed: a streak of failures is logged once, and its end once. */
  private failing = false;

  constructor(
    private readonly url: string,
    private readonly log?: EventLog,
  ) {}

  /** Connects now (serve's start), so that an unreachable NATS_URL shows in the log at once. */
  connectSoon(): void {
    this.connection().catch(() => undefined);
  }

  private connection(): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
    this.conn ??= (async () => {
      const nc = await connect({
        servers: this.url,
        name: 'vouchsafe',
        timeout: connect_timeout_ms,
        maxReconnectAttempts: -1,
      });
      try {
        await ensureStream(nc);
      } catch (err) {
        await nc.close();
        throw err;
      }
      if (this.failing)
        this.log?.info({ nats: shownUrl(this.url) }, 'NATS reachable again: publishing the events that waited');
      this.failing = false;
      return { nc, js: jetstream(nc, { timeout: limits.webhook_timeout_ms }) };
    })().catch((err: unknown) => {
      this.conn = null;
      if (!this.failing && !this.closed) {
        this.log?.warn(
          { nats: shownUrl(this.url), err: err instanceof Error ? err.message : String(err) },
          'NATS unreachable: events wait in the outbox and are published (retried with backoff) once it answers',
        );
      }
      this.failing = true;
      throw err;
    });
    return this.conn;
  }

  async publish(type: string, event_id: string, payload: string): Promise<void> {
    if (this.closed) throw new Error('NATS sink closed');
    const { js } = await this.connection();
    await js.publish(natsSubject(type), payload, { msgID: event_id });
  }

  async close(): Promise<void> {
    this.closed = true;
    const conn = this.conn;
    this.conn = null;
    if (!conn) return;
    try {
      await (await conn).nc.drain();
    } catch {
      // never connected, or already gone: nothing to drain
    }
  }
}
