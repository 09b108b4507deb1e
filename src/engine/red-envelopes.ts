import { randomBytes, randomInt } from 'node:crypto';
import { limits } from '../config/limits.ts';
import { type Campaign, zeroCounters } from '../domain/campaign.ts';
import { idempotencyKeyReused, Rejection } from '../domain/errors.ts';
import { maxExposureMinor } from '../domain/exposure.ts';
import { hasErrors, hasWarnings, lintCampaign } from '../domain/lint.ts';
import { type RandomInt, splitEnvelope, validateEnvelope } from '../domain/red-envelope.ts';
import { envelopeCampaignSpec, type RedEnvelope, type RedEnvelopeTerms } from '../domain/red-envelope-campaign.ts';
import { type IdempotencyRecord, type ListQuery, type Page, type Store, UniqueViolation } from '../store/port.ts';
import { fingerprintOf, genesisHash, linkAudit, packetsDigest } from './audit.ts';
import type { Command, IdemKey, Outcome } from './commands.ts';
import type { Actor } from './engine.ts';
import type { IdGenerator } from './ids.ts';
import type { GrabResult } from './red-envelope-handlers.ts';
import { SingleFlight } from './single-flight.ts';
import { lookedUp } from './unknown-refusal.ts';

/** `crypto.randomInt` is half-open; the split asks for [lo, hi] inclusive. Nobody can predict a packet. */
export const cryptoRandomInt: RandomInt = (lo, hi) => randomInt(lo, hi + 1);

export interface RedEnvelopeDeps {
  store: Store;
  ids: IdGenerator;
  now: () => number;
  /** Submits a command to its campaign's group-commit queue and unwraps the answer. */
  run: <T>(campaign_id: string, cmd: Command) => Promise<T>;
  /** An envelope whose total is above this (or whose backing campaign has lint warnings) waits for approval. */
  approval_threshold_minor: number;
  /** Whether some subscriber wants events of this type (the outbox gets only those): Engine.wantsEventNow. */
  wantsEventNow: (type: string) => Promise<boolean>;
  randomInt?: RandomInt;
}

const wireParam: Record<string, string> = { count: 'count', min_minor: 'min_amount_minor', total_minor: 'total_minor' };

/** Refuses an envelope that cannot be split or lived out; nothing is written for a refused one. */
function checkTerms(t: RedEnvelopeTerms, now_ms: number): void {
  const problem = validateEnvelope(t.total_minor, t.count, t.min_amount_minor);
  if (problem !== null) {
    const field = problem.split(' ')[0] ?? '';
    throw new Rejection('invalid_request', problem.replace('min_minor', 'min_amount_minor'), wireParam[field]);
  }
  if (t.count > limits.red_envelope_packets_max) {
    throw new Rejection('invalid_request', `count must be at most ${limits.red_envelope_packets_max}`, 'count');
  }
  if (t.expires_at_ms <= now_ms) throw new Rejection('invalid_request', 'must be in the future', 'expires_at');
  if (t.expires_at_ms > now_ms + limits.red_envelope_window_ms_max) {
    throw new Rejection('invalid_request', 'must be within 90 days', 'expires_at');
  }
  const ttl_s = t.coupon.coupon_ttl_s;
  if (!Number.isSafeInteger(ttl_s) || ttl_s < 1 || ttl_s > limits.red_envelope_coupon_ttl_s_max) {
    throw new Rejection('invalid_request', 'coupon_ttl_s is out of range', 'coupon.coupon_ttl_s');
  }
}

function replayed(prev: IdempotencyRecord, idem: IdemKey): Campaign {
  if (prev.fingerprint !== idem.fingerprint) {
    throw idempotencyKeyReused();
  }
  const o = prev.result as Outcome;
  if (o.ok) return o.value as Campaign;
  throw new Rejection(o.error.code as Rejection['code'], o.error.message, o.error.param);
}

/**
 * Red envelopes over the group-commit engine. The money is split once, at creation, with a CSPRNG; a grab
 * only pops the next packet under the campaign row lock, so the sum is exact by construction and stays
 * exact across processes (see docs in red-envelope-handlers.ts).
 */
export class RedEnvelopes {
  private readonly routes = new Map<string, string>();
  private readonly inflight = new SingleFlight<string>();
  private readonly randomInt: RandomInt;

  constructor(private readonly deps: RedEnvelopeDeps) {
    this.randomInt = deps.randomInt ?? cryptoRandomInt;
  }

  /**
   * Splits the total, creates the backing campaign, and stores every packet, in one transaction.
   * The campaign starts active unless it is risky by the rules a submitted campaign meets (a lint
   * warning, or a total above the approval threshold): then it is pending_approval, nobody can grab
   * until a key other than its maker approves it (POST /v1/campaigns/{campaign_id}/approve), and
   * the envelope still expires, refunding what was not grabbed, at its time.
   */
  async create(terms: RedEnvelopeTerms, who: Actor): Promise<Campaign> {
    const { store, ids } = this.deps;
    const now_ms = this.deps.now();
    const idem = who.idem
      ? { key: who.idem.key, fingerprint: who.idem.fingerprint ?? fingerprintOf({ op: 'red_envelope', terms }) }
      : null;
    if (idem) {
      const prev = await store.getIdempotency(idem.key);
      if (prev) return replayed(prev, idem);
    }
    checkTerms(terms, now_ms);
    const packets_minor = splitEnvelope(terms.total_minor, terms.count, terms.min_amount_minor, this.randomInt);
    const largest_minor = packets_minor.reduce((m, p) => Math.max(m, p), 0);
    const envelope: RedEnvelope = {
      id: ids.next('env', now_ms),
      total_minor: terms.total_minor,
      count: terms.count,
      min_amount_minor: terms.min_amount_minor,
      expires_at_ms: terms.expires_at_ms,
      grabbed_count: 0,
      grabbed_minor: 0,
      refunded_minor: 0,
      settled_at_ms: null,
      created_at_ms: now_ms,
      packets_key: randomBytes(32).toString('hex'),
    };
    const spec = envelopeCampaignSpec(envelope.id, terms, largest_minor, now_ms);
    const lint = lintCampaign(spec, { now_ms });
    if (hasErrors(lint)) {
      const rules = lint.filter((f) => f.severity === 'error').map((f) => f.rule);
      throw new Rejection('campaign_lint_failed', `red envelope has lint errors: ${rules.join(', ')}`);
    }
    const risky = hasWarnings(lint) || maxExposureMinor(spec) > this.deps.approval_threshold_minor;
    const status = risky ? 'pending_approval' : 'active';
    const campaign: Campaign = {
      ...spec,
      ...zeroCounters,
      id: ids.next('cmp', now_ms),
      status,
      status_reason: null,
      created_at_ms: now_ms,
      updated_at_ms: now_ms,
      created_by: who.actor,
      changed_by: who.actor,
      approved_by: null,
      lint,
      audit_seq: 0,
      audit_head: genesisHash,
      red_envelope: envelope,
    };
    // The packets' digest makes the split itself tamper-evident without putting amounts in the log: keyed,
    // as a plain hash of a few small amounts names them to anyone who tries every split.
    const packets_sha256 = packetsDigest(packets_minor, envelope.packets_key);
    const draft = { chain: campaign.id, at_ms: now_ms, actor: who.actor, action: 'red_envelope.created' };
    const entry = linkAudit(
      { ...draft, subject: envelope.id, data: { spec, terms, packets_sha256, status } },
      { seq: 0, hash: genesisHash },
    );
    campaign.audit_seq = entry.chain_seq;
    campaign.audit_head = entry.hash;
    const outcome: Outcome = { ok: true, value: campaign };
    const rec = idem ? { ...idem, result: outcome, created_at_ms: now_ms } : null;
    const row = {
      id: envelope.id,
      campaign_id: campaign.id,
      expires_at_ms: envelope.expires_at_ms,
      created_at_ms: now_ms,
    };
    // Created active, the backing campaign is activated here, as a submit or an approval announces
    // it for any other campaign (`from` null: it had no status before).
    const activated =
      status === 'active' && (await this.deps.wantsEventNow('campaign.activated'))
        ? [
            {
              id: ids.next('evt', now_ms),
              type: 'campaign.activated',
              created_at_ms: now_ms,
              data: { campaign_id: campaign.id, from: null, to: 'active', reason: null },
            },
          ]
        : [];
    try {
      await store.insertRedEnvelope(campaign, entry, row, packets_minor, rec, activated);
    } catch (err) {
      const prev = err instanceof UniqueViolation && idem ? await store.getIdempotency(idem.key) : null;
      if (prev && idem) return replayed(prev, idem);
      throw err;
    }
    this.routes.set(envelope.id, campaign.id);
    return campaign;
  }

  /** One grab: a fixed-value coupon for the next packet, or a refusal (expired, already grabbed, empty). */
  async grab(envelope_id: string, user_id: string, who: Actor): Promise<GrabResult> {
    const idem = who.idem
      ? { key: who.idem.key, fingerprint: who.idem.fingerprint ?? fingerprintOf({ op: 'grab', envelope_id, user_id }) }
      : undefined;
    const campaign_id =
      this.routes.get(envelope_id) ??
      (await lookedUp(this.deps.store, this.deps.now(), idem, () => this.route(envelope_id)));
    return this.deps.run(campaign_id, {
      type: 'grab',
      envelope_id,
      user_id,
      actor: who.actor,
      ...(idem ? { idem } : {}),
    });
  }

  /** The backing campaign, which carries the envelope's state. */
  async get(envelope_id: string): Promise<Campaign> {
    const c = await this.deps.store.getCampaign(await this.route(envelope_id));
    if (!c?.red_envelope) throw new Rejection('not_found', 'no such red envelope');
    return c;
  }

  list(q: ListQuery): Promise<Page<Campaign>> {
    return this.deps.store.listRedEnvelopes(q);
  }

  /**
   * Refunds the remainder of every envelope expired by `now_ms`, each in its own campaign batch; returns how
   * many. A page of due envelopes at a time (bounded work in flight), until none is left: envelopes that share
   * a promotion's deadline all expire at once, and a page per sweep would leave most of them unrefunded for
   * minutes. Stops early when a full page settles none (every one of them fails: the next sweep retries).
   */
  async expireEnvelopes(now_ms = this.deps.now()): Promise<number> {
    const page_max = limits.red_envelopes_per_sweep_max;
    let total = 0;
    for (;;) {
      const due = await this.deps.store.dueRedEnvelopes(now_ms, page_max);
      const settled = await Promise.allSettled(
        due.map((e) => this.deps.run(e.campaign_id, { type: 'settle_envelope', envelope_id: e.id, actor: null })),
      );
      const done = settled.filter((s) => s.status === 'fulfilled').length;
      total += done;
      if (due.length < page_max || done === 0) return total;
    }
  }

  /** Envelope id to campaign id; one store read per envelope at a time, however many grab at once. */
  private route(envelope_id: string): Promise<string> {
    const hit = this.routes.get(envelope_id);
    if (hit) return Promise.resolve(hit);
    return this.inflight.run(envelope_id, async () => {
      const campaign_id = await this.deps.store.redEnvelopeCampaignId(envelope_id);
      if (campaign_id === null) throw new Rejection('not_found', 'no such red envelope');
      if (this.routes.size >= limits.red_envelope_routes_max) this.routes.clear();
      this.routes.set(envelope_id, campaign_id);
      return campaign_id;
    });
  }
}
