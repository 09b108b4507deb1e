import { randomBytes } from 'node:crypto';
import { limits } from '../config/limits.ts';
import {
  assertConservation,
  type Campaign,
  type CampaignSpec,
  type CampaignStatus,
  type Velocity,
  zeroCounters,
} from '../domain/campaign.ts';
import type { CampaignPatch } from '../domain/campaign-change.ts';
import { type CodeKey, codeKey, codeRandomBytesNeeded, issuedCodePrefix, makeCode } from '../domain/codes.ts';
import type { Coupon } from '../domain/coupon.ts';
import { evaluateRedemption } from '../domain/eligibility.ts';
import { asError, assert, idempotencyKeyReused, Rejection } from '../domain/errors.ts';
import { lintCampaign } from '../domain/lint.ts';
import type { Order, Redemption } from '../domain/redemption.ts';
import type { VelocitySubject } from '../domain/velocity.ts';
import { allRows } from '../store/all-rows.ts';
import {
  type BatchLoad,
  type BatchSnapshot,
  type BatchWrites,
  type IdempotencyRecord,
  type Page,
  type RedemptionQuery,
  type SizedListQuery,
  type Store,
  UniqueViolation,
  type UsageKey,
} from '../store/port.ts';
import type { IncidentFenceLoad } from '../store/port-incidents.ts';
import { fingerprintOf, genesisHash, linkAudit } from './audit.ts';
import { BatchContext, type BatchEnv } from './batch-context.ts';
import { CampaignCache } from './campaign-cache.ts';
import { campaignAction, generateCodes } from './campaign-handlers.ts';
import { type Clock, systemClock } from './clock.ts';
import { CodeResolver, looksGenerated, normalizeSharedCode } from './code-resolver.ts';
import { type CampaignAction, type Command, commandPriority, type IdemKey, type Outcome } from './commands.ts';
import { type Counters, MemoryCounters } from './counters.ts';
import { GroupCommit } from './group-commit.ts';
import { Guards } from './guards.ts';
import { IdGenerator } from './ids.ts';
import { freeze, raiseAlert, reverseMany, revokeCoupons, unfreeze } from './incident-handlers.ts';
import { type IncidentLog, Incidents } from './incidents/incidents.ts';
import { OneAtATime } from './one-at-a-time.ts';
import { grab, packetsToLoad, settle } from './red-envelope-handlers.ts';
import { RedEnvelopes } from './red-envelopes.ts';
import { claim, confirm, orderKey, release, reserve, reverse, VelocityChanged } from './redeem-handlers.ts';
import { lookedUp } from './unknown-refusal.ts';
import { needsLiveMax, updateCampaign } from './update-handler.ts';

export interface EngineOptions {
  clock?: Clock;
  hold_ms?: number;
  approval_threshold_minor?: number;
  batch_commands_max?: number;
  queue_commands_max?: number;
  /**
   * Background work every sweep_interval_ms (off in most tests): release expired holds, refund
   * expired red envelopes, prune idempotency records, and carry on incidents whose process died.
   */
  sweep?: boolean;
  /**
   * Which event types to write to the outbox (default: all). The server passes the
   * types its webhooks and NATS subscribe to: an event nobody receives is not stored.
   */
  wantsEvent?: (type: string) => boolean;
  /** Velocity and failed-attempt counters (default: in process); the engine closes them. Redis for a cluster. */
  counters?: Counters;
  /** Where background work says what it did (the sweeper's incident resumes); default: nowhere. */
  log?: IncidentLog;
}

export interface Actor {
  /** API key id, or null for the system itself. */
  actor: string | null;
  /** Idempotency-Key, already namespaced by the caller; fingerprint defaults to a hash of the command. */
  idem?: { key: string; fingerprint?: string };
}

export interface RedeemInput {
  user_id: string;
  code?: string;
  coupon_id?: string;
  order: Order;
  device_id?: string | null;
  ip?: string | null;
  confirm?: boolean;
}

export type Listener = (campaign: Campaign, confirmed: Redemption[]) => void;

const handlers: { [T in Command['type']]: (ctx: BatchContext, cmd: Extract<Command, { type: T }>) => unknown } = {
  claim,
  reserve,
  confirm,
  release,
  reverse,
  freeze,
  unfreeze,
  action: campaignAction,
  codes: generateCodes,
  grab,
  settle_envelope: settle,
  alert: raiseAlert,
  reverse_many: reverseMany,
  revoke_coupons: revokeCoupons,
  update: updateCampaign,
};

/** A shared code is stored normalized and may not look like a generated one; other modes have none. */
function checkCodeMode(spec: CampaignSpec): CampaignSpec {
  if (spec.code_mode === 'red_envelope') {
    throw new Rejection('invalid_request', 'red envelopes are made with POST /v1/red-envelopes', 'code_mode');
  }
  if (spec.code_mode !== 'shared_code') {
    if (spec.code !== null) throw new Rejection('invalid_request', 'code is only for shared_code campaigns', 'code');
    return spec;
  }
  if (spec.code === null) throw new Rejection('invalid_request', 'a shared_code campaign needs a code', 'code');
  const code = normalizeSharedCode(spec.code);
  if (code.length === 0 || looksGenerated(code)) {
    throw new Rejection('invalid_request', 'a shared code must not look like a generated unique code', 'code');
  }
  return { ...spec, code };
}

/** Who is asking, for velocity limits and the code-guessing lockout. */
function subjectOf(input: RedeemInput): VelocitySubject {
  return { user_id: input.user_id, device_id: input.device_id ?? null, ip: input.ip ?? null };
}

function toOutcomeError(e: Rejection): Outcome {
  return { ok: false, error: { code: e.code, message: e.message, ...(e.param ? { param: e.param } : {}) } };
}

/** Turns a stored outcome back into a value or a thrown Rejection. */
function unwrap<T>(o: Outcome): T {
  if (o.ok) return o.value as T;
  throw new Rejection(o.error.code as Rejection['code'], o.error.message, o.error.param);
}

/**
 * The only place that mutates state. Commands for one campaign are group-committed:
 * batched into one store transaction that locks the campaign row once.
 */
export class Engine {
  readonly clock: Clock;
  readonly ids = new IdGenerator();
  private readonly queue: GroupCommit<Command, Outcome>;
  private readonly listeners: Listener[] = [];
  private readonly hold_ms: number;
  wantsEvent: (type: string) => boolean;
  /**
   * Set when wantsEvent is this node's copy of what the webhooks subscribe to (re-read every
   * second): each batch then also reads the live webhooks' types in its transaction and writes their
   * events too, so a webhook made on another node gets them from its creation on, not a second later.
   */
  subscriptionsInBatch = false;
  readonly approval_threshold_minor: number;
  private sweeper: NodeJS.Timeout | null = null;
  private last_idempotency_prune_ms = Number.NEGATIVE_INFINITY;
  private last_incident_check_ms = Number.NEGATIVE_INFINITY;
  private last_end_check_ms = Number.NEGATIVE_INFINITY;
  private resuming: Promise<number> | null = null;
  /** Hold sweeps (releaseExpiredHolds), one at a time. */
  private readonly holdSweeps = new OneAtATime(() => this.sweepHolds());
  /** The sweeper's envelope refunds: a sweep that outlasts the interval is not started twice. */
  private readonly envelopeSweeps = new OneAtATime(() => this.envelopes.expireEnvelopes());
  private closing: Promise<void> | null = null;
  private readonly log: IncidentLog;
  readonly codes: CodeResolver;
  /** Red envelopes: create, grab, read, and the expiry sweep (red-envelopes.ts). */
  readonly envelopes: RedEnvelopes;
  readonly guards: Guards;
  /** Campaigns as last committed or read here, for validations and velocity settings (campaign-cache.ts). */
  private readonly campaigns: CampaignCache;
  private readonly codeKey: CodeKey;
  private randomPool = Buffer.alloc(0);
  private randomOffset = 0;

  private constructor(
    readonly store: Store,
    secret: string,
    opts: EngineOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.hold_ms = opts.hold_ms ?? limits.hold_ms_default;
    this.log = opts.log ?? (() => undefined);
    this.wantsEvent = opts.wantsEvent ?? (() => true);
    this.approval_threshold_minor = opts.approval_threshold_minor ?? 1_000_000;
    this.queue = new GroupCommit(
      (batches) => this.applyBatches(batches),
      {
        batch_commands_max: opts.batch_commands_max ?? limits.batch_commands_max,
        queue_commands_max: opts.queue_commands_max ?? limits.queue_commands_max,
      },
      commandPriority,
    );
    this.codeKey = codeKey(secret);
    this.codes = new CodeResolver(store, this.codeKey);
    this.envelopes = new RedEnvelopes({
      store,
      ids: this.ids,
      now: () => this.now(),
      run: <T>(campaign_id: string, cmd: Command) => this.run<T>(campaign_id, cmd),
      approval_threshold_minor: this.approval_threshold_minor,
      wantsEventNow: (type) => this.wantsEventNow(type),
    });
    this.campaigns = new CampaignCache(store, this.clock);
    this.guards = new Guards(opts.counters ?? new MemoryCounters(this.clock), this.campaigns, this.clock);
    this.onCommit((c) => this.campaigns.note(c));
    if (opts.sweep) {
      this.sweeper = setInterval(() => {
        void this.releaseExpiredHolds().catch(() => undefined);
        if (!this.envelopeSweeps.running) void this.envelopeSweeps.run().catch(() => undefined);
        if (this.now() - this.last_idempotency_prune_ms >= limits.idempotency_prune_interval_ms) {
          this.last_idempotency_prune_ms = this.now();
          void this.pruneIdempotency().catch(() => undefined);
        }
        if (this.now() - this.last_end_check_ms >= limits.campaign_end_check_ms) {
          this.last_end_check_ms = this.now();
          void this.endCampaigns().catch(() => undefined);
        }
        if (this.now() - this.last_incident_check_ms >= limits.incident_resume_check_ms) {
          this.last_incident_check_ms = this.now();
          void this.resumeIncidents().catch(() => undefined);
        }
      }, limits.sweep_interval_ms);
      this.sweeper.unref();
    }
  }

  static async open(store: Store, opts: EngineOptions = {}): Promise<Engine> {
    await store.migrate();
    const key = await store.getOrCreateSecret('code_check_key', () => randomBytes(32).toString('hex'));
    const engine = new Engine(store, key, opts);
    for (const code of await store.sharedCodes(1)) {
      const folded = normalizeSharedCode(code);
      if (looksGenerated(code) || folded !== code) engine.codes.legacySharedCodes.set(folded, code);
    }
    return engine;
  }

  /**
   * For an event written outside a batch (an incident's, a red envelope's activation, a node's): wanted
   * here, or by a webhook another node made since this node's copy was read (read from the store then).
   */
  async wantsEventNow(type: string): Promise<boolean> {
    if (this.wantsEvent(type)) return true;
    if (!this.subscriptionsInBatch) return false;
    return (await this.store.liveWebhooks()).some((w) => w.events.includes(type));
  }

  onCommit(listener: Listener): void {
    this.listeners.push(listener);
  }

  now(): number {
    return this.clock.now();
  }

  /**
   * A fresh code: CSPRNG bytes drawn from a pool, plus the keyed check part; an issued code
   * (a claim's, a grab's) starts with the time prefix (see issuedCodePrefix).
   */
  newCode(issued_at_ms: number | null = null): string {
    if (this.randomOffset + codeRandomBytesNeeded > this.randomPool.length) {
      this.randomPool = randomBytes(codeRandomBytesNeeded * 4096);
      this.randomOffset = 0;
    }
    const bytes = this.randomPool.subarray(this.randomOffset, this.randomOffset + codeRandomBytesNeeded);
    this.randomOffset += codeRandomBytesNeeded;
    return makeCode(bytes, this.codeKey, issued_at_ms === null ? '' : issuedCodePrefix(issued_at_ms));
  }

  // ---- campaigns ----------------------------------------------------------

  async createCampaign(input: CampaignSpec, who: Actor): Promise<Campaign> {
    const spec = checkCodeMode(input);
    const now_ms = this.now();
    const idem = who.idem ? this.idemKey(who.idem, { op: 'create_campaign', spec }) : null;
    if (idem) {
      const prev = await this.store.getIdempotency(idem.key);
      if (prev) return unwrap(this.replay(prev, idem));
    }
    // A code stored before folding answers to this one's spelling (CodeResolver.legacySharedCodes).
    if (spec.code !== null && this.codes.legacySharedCodes.has(spec.code)) {
      throw new Rejection('invalid_request', 'this code is already in use', 'code');
    }
    const campaign: Campaign = {
      ...spec,
      ...zeroCounters,
      id: this.ids.next('cmp', now_ms),
      status: 'draft',
      status_reason: null,
      created_at_ms: now_ms,
      updated_at_ms: now_ms,
      created_by: who.actor,
      changed_by: who.actor,
      approved_by: null,
      lint: lintCampaign(spec, { now_ms }),
      audit_seq: 0,
      audit_head: genesisHash,
    };
    const coupons: Coupon[] = [];
    if (spec.code_mode === 'shared_code' && spec.code !== null) {
      coupons.push({
        id: this.ids.next('cpn', now_ms),
        campaign_id: campaign.id,
        user_id: null,
        code: spec.code,
        kind: 'shared',
        status: 'active',
        expires_at_ms: spec.ends_at_ms,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
      });
    }
    const entry = linkAudit(
      {
        chain: campaign.id,
        at_ms: now_ms,
        actor: who.actor,
        action: 'campaign.created',
        subject: campaign.id,
        data: spec,
      },
      { seq: 0, hash: genesisHash },
    );
    campaign.audit_seq = entry.chain_seq;
    campaign.audit_head = entry.hash;
    const outcome: Outcome = { ok: true, value: campaign };
    const rec = idem ? { key: idem.key, fingerprint: idem.fingerprint, result: outcome, created_at_ms: now_ms } : null;
    try {
      await this.store.insertCampaign(campaign, entry, coupons, rec);
    } catch (err) {
      if (!(err instanceof UniqueViolation)) throw err;
      const prev = idem ? await this.store.getIdempotency(idem.key) : null;
      if (prev && idem) return unwrap(this.replay(prev, idem));
      throw new Rejection('invalid_request', 'this code is already in use', 'code');
    }
    return campaign;
  }

  async getCampaign(id: string): Promise<Campaign> {
    const c = await this.store.getCampaign(id);
    if (!c) throw new Rejection('not_found', 'no such campaign');
    return c;
  }

  listCampaigns(q: SizedListQuery & { status?: string }): Promise<Page<Campaign>> {
    return this.store.listCampaigns(q);
  }

  /**
   * Every campaign in `status` (or any of several, in one pass: one moving between them is listed
   * once, in whichever it had when its page was read) as stored now, page by page (the kill switch,
   * the end sweep).
   */
  async campaignsWithStatus(status: CampaignStatus | readonly CampaignStatus[]): Promise<Campaign[]> {
    const out: Campaign[] = [];
    for await (const c of allRows((q) => this.store.listCampaigns({ ...q, status }))) out.push(c);
    return out;
  }

  /**
   * A lifecycle action. For approve, expected_updated_at_ms (the updated_at the approver
   * reviewed) refuses any other version with invalid_state; other actions ignore it.
   */
  async campaignAction(
    id: string,
    action: CampaignAction,
    who: Actor,
    reason: string | null = null,
    expected_updated_at_ms: number | null = null,
  ): Promise<Campaign> {
    // Without an expected version the command and its fingerprint are what they always were.
    const expected = expected_updated_at_ms === null ? {} : { expected_updated_at_ms };
    const idem = this.idemOf(who, { op: action, id, reason, ...expected });
    await this.lookedUp(idem, () => this.getCampaign(id));
    return this.run<Campaign>(id, {
      type: 'action',
      action,
      reason,
      approval_threshold_minor: this.approval_threshold_minor,
      actor: who.actor,
      ...expected,
      ...idem,
    });
  }

  /**
   * An incident's pause: a system command like its other batches, so it is still admitted
   * while the engine closes (campaignAction is refused then) and a resume can finish.
   */
  pauseForIncident(id: string, who: Actor, reason: string): Promise<Campaign> {
    return this.submitCommand<Campaign>(id, {
      type: 'action',
      action: 'pause',
      reason,
      approval_threshold_minor: this.approval_threshold_minor,
      actor: who.actor,
    });
  }

  /**
   * Changes a campaign's spec (absent fields stay). Runs as a batch of its own, straight
   * on the store rather than through the queue: the commands after it must load for the
   * limits it sets, and the row lock orders it with the queue's batches as with another node's.
   */
  async updateCampaign(id: string, patch: CampaignPatch, who: Actor): Promise<Campaign> {
    const idem = this.idemOf(who, { op: 'update', id, patch });
    const current = await this.lookedUp(idem, () => this.getCampaign(id));
    if (this.isClosing) throw new Rejection('overloaded', 'server is shutting down', undefined, 1);
    // The code cannot change; one sent back as it is spelled now (stored unfolded by an older server) is no change.
    const code = typeof patch.code === 'string' ? normalizeSharedCode(patch.code) : undefined;
    const same = code !== undefined && current.code !== null && normalizeSharedCode(current.code) === code;
    const normalized = code === undefined ? patch : { ...patch, code: same ? current.code : code };
    const cmd: Command = { type: 'update', patch: normalized, actor: who.actor, ...idem };
    const [outcome] = await this.applyBatch(id, [cmd]);
    assert(outcome !== undefined, 'a batch of one command answered nothing');
    return unwrap<Campaign>(outcome);
  }

  /**
   * Codes are made in parts of limits.codes_per_batch_max, each its own batch, so that 100,000 of
   * them never hold the event loop (and every checkout behind it) for seconds in one transaction.
   * With an Idempotency-Key each part keeps its own answer under the key (the first part) or a
   * derived one no client can send (the key, a space, the part's number), so a retry after a
   * failure halfway replays the parts made and makes the rest: one set of codes, whole, whatever
   * happens. A failed request may leave parts made that nobody was told: bearer codes nobody
   * holds, still bounded by the campaign's budget and max_redemptions.
   */
  async generateCodes(id: string, count: number, who: Actor): Promise<{ codes: string[] }> {
    const whole = who.idem ? this.idemKey(who.idem, { op: 'codes', id, count }) : null;
    await this.lookedUp(whole ? { idem: whole } : {}, () => this.getCampaign(id));
    if (!Number.isSafeInteger(count) || count < 1 || count > limits.codes_per_request_max) {
      throw new Rejection('invalid_request', `count must be 1-${limits.codes_per_request_max}`, 'count');
    }
    const part_max = limits.codes_per_batch_max;
    const parts = Math.ceil(count / part_max);
    const codes: string[] = [];
    for (let part = 0; part < parts; part++) {
      const n = Math.min(part_max, count - part * part_max);
      const idem = whole
        ? {
            idem: {
              key: part === 0 ? whole.key : `${whole.key} ${part}`,
              fingerprint: parts === 1 ? whole.fingerprint : fingerprintOf({ whole: whole.fingerprint, part, parts }),
            },
          }
        : {};
      const made = await this.run<{ codes: string[] }>(id, { type: 'codes', count: n, actor: who.actor, ...idem });
      for (const code of made.codes) codes.push(code);
    }
    return { codes };
  }

  // ---- coupons and redemptions ---------------------------------------------

  async claim(input: { campaign_id: string; user_id: string }, who: Actor): Promise<Coupon> {
    const idem = this.idemOf(who, { op: 'claim', ...input });
    // Whether it exists, from this node's copy while fresh: a store read parses the whole campaign,
    // allowlist too (up to 100,000 users), which per claim stalled every request behind it.
    await this.lookedUp(idem, async () => {
      if (!(await this.campaigns.get(input.campaign_id))) throw new Rejection('not_found', 'no such campaign');
    });
    return this.run(input.campaign_id, {
      type: 'claim',
      user_id: input.user_id,
      actor: who.actor,
      ...idem,
    });
  }

  /**
   * Dry run: the same rules as a redemption; writes nothing. Usage counts and claimed or unique
   * coupons are read fresh; the campaign comes from this node's cache (CampaignCache), and a
   * shared code's coupon from CodeResolver's while that campaign's audit_seq has not moved.
   */
  async validate(
    input: RedeemInput,
  ): Promise<{ valid: boolean; discount_minor: number; reason: null | { code: string; message: string } }> {
    const subject = subjectOf(input);
    await this.guards.checkAttempts(subject);
    try {
      // The campaign's audit_seq as cached before any store read (see CodeResolver.cachedShared).
      const route = this.codes.cachedRoute(input);
      const seen = route === undefined ? undefined : this.campaigns.fresh(route.campaign_id)?.audit_seq;
      const coupon =
        (seen === undefined ? undefined : this.codes.cachedShared(input, seen)) ??
        (await this.guards.lookup(subject, () => this.codes.resolveForValidation(input, seen)));
      // The campaign as this node last committed or read it (CampaignCache): a validation only
      // advises, and the redemption decides again from the locked row.
      const campaign = await this.campaigns.get(coupon.campaign_id);
      if (!campaign) throw new Rejection('not_found', 'no such campaign');
      // The order's count (one discount per order), and only the counts a limit of the campaign looks at.
      const user: UsageKey = `user:${input.user_id}`;
      const merchant: UsageKey = `merchant:${input.order.merchant_id}`;
      const order = orderKey(input.order);
      const keys: UsageKey[] = [order];
      if (campaign.per_user_limit !== null) keys.push(user);
      if (campaign.per_merchant_limit !== null) keys.push(merchant);
      const usage = await this.store.getUsage(campaign.id, keys);
      const verdict = evaluateRedemption({
        campaign,
        coupon,
        user_id: input.user_id,
        order: input.order,
        usage: {
          user_live: usage.get(user) ?? 0,
          merchant_live: usage.get(merchant) ?? 0,
          order_live: usage.get(order) ?? 0,
        },
        now_ms: this.now(),
      });
      if (verdict instanceof Rejection) throw verdict;
      return { valid: true, discount_minor: verdict.discount_minor, reason: null };
    } catch (e) {
      // The lockout met during the lookup (guesses sent together) refuses the request, as it does
      // before it (429 with Retry-After): it says nothing about the coupon.
      if (!(e instanceof Rejection) || e.code === 'too_many_attempts') throw e;
      return { valid: false, discount_minor: 0, reason: { code: e.code, message: e.message } };
    }
  }

  /** Reserves (or with confirm, spends) budget for one order; every rule is checked again here. */
  async redeem(input: RedeemInput, who: Actor): Promise<Redemption> {
    const idemPart = who.idem ? this.idemOf(who, { op: 'redeem', ...input }) : {};
    if (idemPart.idem) {
      // A replay must not depend on the code still resolving (it may have been revoked since).
      const prev = await this.store.getIdempotency(idemPart.idem.key);
      if (prev) return unwrap(this.replay(prev, idemPart.idem));
    }
    const subject = subjectOf(input);
    // The guards and the code route answer at once when they have nothing to wait for (in-process
    // counters, cached settings and route): the hot path then awaits only its batch.
    const attempts = this.guards.checkAttempts(subject);
    if (attempts) await attempts;
    const coupon =
      this.codes.cachedRoute(input) ??
      (await this.lookedUp(idemPart, () => this.guards.lookup(subject, () => this.codes.route(input))));
    const settings = this.guards.velocityOf(coupon.campaign_id);
    let velocity = (settings instanceof Promise ? await settings : settings).v;
    for (let counts = 1; ; counts++) {
      const outcome = await this.reserveUnder(velocity, coupon, input, who, idemPart);
      if (outcome.velocity_now === undefined) return unwrap<Redemption>(outcome);
      // Counted under this node's copy of the limits, which another node has changed since: nothing
      // was decided. Counted again under the locked row's; the copy is read again by what follows.
      this.campaigns.forget(coupon.campaign_id);
      velocity = outcome.velocity_now.velocity;
      if (counts >= limits.velocity_recounts_max) {
        throw new Rejection('overloaded', "the campaign's velocity limits keep changing; retry", undefined, 1);
      }
    }
  }

  /** One reservation, counted in the velocity windows `velocity` sets; a place not used is given back. */
  private async reserveUnder(
    velocity: Velocity | null,
    coupon: { coupon_id: string; campaign_id: string },
    input: RedeemInput,
    who: Actor,
    idemPart: { idem?: IdemKey },
  ): Promise<Outcome> {
    const subject = subjectOf(input);
    const admitted = this.guards.admit(velocity, coupon.campaign_id, subject);
    const ticket = admitted instanceof Promise ? await admitted : admitted;
    let outcome: Outcome;
    try {
      outcome = await this.outcomeOf(coupon.campaign_id, {
        type: 'reserve',
        coupon_id: coupon.coupon_id,
        user_id: input.user_id,
        order: input.order,
        device_id: subject.device_id,
        ip: subject.ip,
        confirm: input.confirm ?? false,
        velocity,
        actor: who.actor,
        ...idemPart,
      });
    } catch (e) {
      // Velocity counts redemptions the engine accepted: a refused one gives its place back, and so
      // does one the store failed to record (503: retry), else its retry would be rate_limited for
      // the rest of the window. When such a batch did commit (its answer lost), the retry with the
      // same Idempotency-Key is answered by the replay and takes no place either.
      if (ticket) await this.guards.settle(ticket, false);
      throw e;
    }
    // Given back once: by a refusal (or a reservation not decided), or by a retry answered with its
    // first request's answer (both in flight at once), which accepted none of its own. Given back
    // twice (a replayed refusal), the place of a redemption accepted before would go with it.
    const settled = ticket && this.guards.settle(ticket, outcome.ok && !outcome.replayed);
    if (settled) await settled;
    return outcome;
  }

  async confirm(redemption_id: string, who: Actor): Promise<Redemption> {
    const idem = this.idemOf(who, { op: 'confirm', redemption_id });
    const r = await this.lookedUp(idem, () => this.getRedemption(redemption_id));
    return this.run(r.campaign_id, { type: 'confirm', redemption_id, actor: who.actor, ...idem });
  }

  async release(redemption_id: string, who: Actor): Promise<Redemption> {
    const idem = this.idemOf(who, { op: 'release', redemption_id });
    const r = await this.lookedUp(idem, () => this.getRedemption(redemption_id));
    return this.run(r.campaign_id, { type: 'release', redemption_id, expired: false, actor: who.actor, ...idem });
  }

  async reverse(redemption_id: string, restore_coupon: boolean, who: Actor): Promise<Redemption> {
    const idem = this.idemOf(who, { op: 'reverse', redemption_id, restore_coupon });
    const r = await this.lookedUp(idem, () => this.getRedemption(redemption_id));
    return this.run(r.campaign_id, { type: 'reverse', redemption_id, restore_coupon, actor: who.actor, ...idem });
  }

  async getRedemption(id: string): Promise<Redemption> {
    const r = await this.store.getRedemption(id);
    if (!r) throw new Rejection('not_found', 'no such redemption');
    return r;
  }

  listRedemptions(q: RedemptionQuery): Promise<Page<Redemption>> {
    return this.store.listRedemptions(q);
  }

  async getCoupon(id: string): Promise<Coupon> {
    const c = await this.store.getCoupon(id);
    if (!c) throw new Rejection('coupon_not_found', 'no such coupon');
    return c;
  }

  /**
   * Forgets idempotency records older than limits.idempotency_ttl_ms (24 h, as Stripe does): a key
   * reused after that is a new request. Deletes in chunks so no one transaction holds the store long.
   */
  async pruneIdempotency(): Promise<number> {
    const before_ms = this.now() - limits.idempotency_ttl_ms;
    let pruned = 0;
    for (;;) {
      const n = await this.store.pruneIdempotency(before_ms, limits.idempotency_prune_chunk_max);
      pruned += n;
      if (n < limits.idempotency_prune_chunk_max) return pruned;
      // An embedded store answers at once: let requests and timers run between chunks.
      await new Promise<void>((next) => setImmediate(next));
    }
  }

  /**
   * Moves every active or paused campaign whose ends_at has passed to `ended`, each through its
   * own batch (audited as campaign.end); answers how many this call ended. Claims and new
   * redemptions were refused from ends_at on already; this makes the status say so.
   */
  async endCampaigns(): Promise<number> {
    const now_ms = this.now();
    const due: string[] = [];
    for (const status of ['active', 'paused'] as const) {
      for (const c of await this.campaignsWithStatus(status)) if (c.ends_at_ms <= now_ms) due.push(c.id);
    }
    let ended = 0;
    for (const id of due) {
      const cmd: Command = {
        type: 'action',
        action: 'end',
        reason: 'ends_at passed',
        approval_threshold_minor: this.approval_threshold_minor,
        actor: null,
      };
      const c = await this.submitCommand<Campaign>(id, cmd).catch(() => null);
      if (c?.status === 'ended') ended += 1;
    }
    return ended;
  }

  /**
   * Releases every hold whose time is up; returns how many. Sweeps do not overlap: until a sweep's
   * releases commit their holds still read reserved, so a sweep beside it (the sweeper's next tick
   * on a slow store) would queue every one of them again, each refused as released, taking the
   * queue's places from checkouts and the store's time. A call while one runs is answered by the
   * next sweep, which starts once that one has ended; the calls made meanwhile share it.
   */
  releaseExpiredHolds(): Promise<number> {
    return this.holdSweeps.run();
  }

  /** One sweep: every release it queues has settled before it ends (so no later sweep queues one again). */
  private async sweepHolds(): Promise<number> {
    const due = await this.store.expiredHolds(this.now(), limits.expired_holds_per_sweep_max);
    const settled = await Promise.allSettled(
      due.map((h) =>
        this.queue.submit(h.campaign_id, { type: 'release', redemption_id: h.id, expired: true, actor: null }),
      ),
    );
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.filter((s) => s.status === 'fulfilled' && s.value.ok).length;
  }

  /**
   * Carries on every incident left opening or resolving by a process that died (its lease ran
   * out): see Incidents.resumeStuck. One run at a time per engine; answers how many it finished.
   */
  resumeIncidents(): Promise<number> {
    if (this.resuming) return this.resuming;
    this.resuming = new Incidents(this, this.log)
      .resumeStuck()
      .then((done) => done.length)
      .finally(() => {
        this.resuming = null;
      });
    return this.resuming;
  }

  /**
   * A system command (detector alerts, incident bulk work) in the campaign's next batch.
   * Not refused while closing: started incident work may finish.
   */
  async submitCommand<T>(campaign_id: string, cmd: Command): Promise<T> {
    return unwrap<T>(await this.queue.submit(campaign_id, cmd));
  }

  /**
   * Stops the sweeper and waits for an incident resume, a hold sweep and an envelope sweep it started (their batches
   * are still admitted, so they finish rather than meeting a closed store halfway) and for every
   * queued command to be answered.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  /** True once close() was called: background work starts nothing new. */
  get isClosing(): boolean {
    return this.closing !== null;
  }

  private async shutDown(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.resuming?.catch(() => undefined);
    await this.holdSweeps.idle();
    await this.envelopeSweeps.idle();
    await this.queue.idle();
    await this.guards.counters.close();
  }

  get pending(): number {
    return this.queue.pending;
  }

  // ---- internals ----------------------------------------------------------

  private idemKey(idem: { key: string; fingerprint?: string }, request: unknown): IdemKey {
    return { key: idem.key, fingerprint: idem.fingerprint ?? fingerprintOf(request) };
  }

  private idemOf(who: Actor, request: unknown): { idem?: IdemKey } {
    return who.idem ? { idem: this.idemKey(who.idem, request) } : {};
  }

  /** A lookup before the batch; its unknown-id refusal is kept under the key (unknown-refusal.ts). */
  private lookedUp<T>(part: { idem?: IdemKey }, lookup: () => Promise<T>): Promise<T> {
    return lookedUp(this.store, this.now(), part.idem, lookup);
  }

  private replay(prev: IdempotencyRecord, idem: IdemKey): Outcome {
    if (prev.fingerprint !== idem.fingerprint) {
      return toOutcomeError(idempotencyKeyReused());
    }
    return prev.result as Outcome;
  }

  private async run<T>(campaign_id: string, cmd: Command): Promise<T> {
    return unwrap<T>(await this.outcomeOf(campaign_id, cmd));
  }

  private async outcomeOf(campaign_id: string, cmd: Command): Promise<Outcome> {
    if (this.isClosing) throw new Rejection('overloaded', 'server is shutting down', undefined, 1);
    return this.queue.submit(campaign_id, cmd);
  }

  /** What a batch must read; usage counters for each order, and others only for the limits the campaign sets. */
  private loadFor(cmds: Command[], c: Campaign): BatchLoad {
    const load: BatchLoad = { coupon_ids: [], redemption_ids: [], usage_keys: [], idempotency_keys: [] };
    if (this.subscriptionsInBatch) load.subscribed_types = true;
    const incidents: IncidentFenceLoad[] = [];
    let grabs = 0;
    for (const cmd of cmds) {
      if (cmd.idem) load.idempotency_keys.push(cmd.idem.key);
      switch (cmd.type) {
        case 'claim':
          if (c.per_user_limit !== null) load.usage_keys.push(`claim:${cmd.user_id}`);
          break;
        case 'reserve':
          load.coupon_ids.push(cmd.coupon_id);
          load.usage_keys.push(orderKey(cmd.order));
          if (c.per_user_limit !== null) load.usage_keys.push(`user:${cmd.user_id}`);
          if (c.per_merchant_limit !== null) load.usage_keys.push(`merchant:${cmd.order.merchant_id}`);
          break;
        case 'freeze':
        case 'unfreeze':
        case 'reverse_many': {
          load.redemption_ids.push(...cmd.redemption_ids);
          // A resolution moves only members still pending; a freeze needs only the incident's state.
          const pending = cmd.type === 'freeze' ? [] : cmd.redemption_ids;
          incidents.push({ incident_id: cmd.incident_id, redemption_ids: pending });
          break;
        }
        case 'revoke_coupons':
          load.coupon_ids.push(...cmd.coupon_ids);
          incidents.push({ incident_id: cmd.incident_id, redemption_ids: [] });
          break;
        case 'action':
          // An end releases a paused campaign's holds; a pause earlier in the batch may make it paused.
          if (cmd.action === 'revoke' || cmd.action === 'end') load.all_reserved = true;
          if (cmd.action === 'approve' || cmd.action === 'submit') load.pausing_incidents = true;
          if (cmd.action === 'approve') load.key_origins = true;
          break;
        case 'codes':
        case 'alert':
          break;
        case 'update':
          if (needsLiveMax(c, cmd.patch)) load.live_max = true;
          break;
        case 'grab':
          load.usage_keys.push(`claim:${cmd.user_id}`);
          grabs += 1;
          break;
        case 'settle_envelope':
          break;
        default:
          load.redemption_ids.push(cmd.redemption_id);
      }
    }
    const packets = packetsToLoad(c, grabs);
    if (packets) load.packets = packets;
    if (incidents.length > 0) load.incidents = incidents;
    return load;
  }

  /**
   * Applies the ready batches of several campaigns: in one store transaction when the
   * store can (SQLite: one fsync for all, each campaign isolated), otherwise
   * one transaction per campaign, concurrently (PostgreSQL: separate connections).
   */
  private async applyBatches(
    batches: Array<{ campaign_id: string; cmds: Command[] }>,
  ): Promise<Array<Outcome[] | Error>> {
    const committed: Array<{ campaign: Campaign; confirmed: Redemption[] }> = [];
    const items = batches.map((b) => ({
      campaign_id: b.campaign_id,
      load: (c: Campaign) => this.loadFor(b.cmds, c),
      decide: (snapshot: BatchSnapshot) => this.decideBatch(snapshot, b.cmds, committed),
    }));
    const results: Array<Outcome[] | Error> = this.store.runBatches
      ? await this.store.runBatches(items)
      : await Promise.all(items.map((i) => this.store.runBatch(i.campaign_id, i.load, i.decide).catch(asError)));
    // A campaign whose batch failed was decided but rolled back: its listeners hear nothing.
    const failed = new Set(batches.filter((_, i) => results[i] instanceof Error).map((b) => b.campaign_id));
    for (const done of committed) {
      if (failed.has(done.campaign.id)) continue;
      for (const l of this.listeners) {
        // The batch is committed: a failing listener must not turn its answers into errors.
        try {
          l(done.campaign, done.confirmed);
        } catch (err) {
          this.log('commit listener failed', { campaign_id: done.campaign.id, error: String(err) });
        }
      }
    }
    return results;
  }

  /** One campaign's batch straight on the store, outside the queue. */
  private async applyBatch(campaign_id: string, cmds: Command[]): Promise<Outcome[]> {
    const [result] = await this.applyBatches([{ campaign_id, cmds }]);
    if (result === undefined) throw new Error('a batch answered nothing');
    if (result instanceof Error) throw result;
    return result;
  }

  /** Decides one campaign's batch from its locked snapshot; pure apart from ids and codes. */
  private decideBatch(
    snapshot: BatchSnapshot,
    cmds: Command[],
    committed: Array<{ campaign: Campaign; confirmed: Redemption[] }>,
  ): { writes: BatchWrites | null; result: Outcome[] } {
    const now_ms = this.now();
    const wants = this.wantsEvent;
    const subscribed = snapshot.subscribed_types;
    const env: BatchEnv = {
      now_ms,
      ids: this.ids,
      newCode: () => this.newCode(),
      newIssuedCode: () => this.newCode(now_ms),
      hold_ms: this.hold_ms,
      wantsEvent: subscribed === undefined ? wants : (type) => wants(type) || subscribed.has(type),
    };
    // A store may run decide again (a retried or re-run transaction): only the last decision per
    // campaign counts, even when that one changes nothing.
    const at = committed.findIndex((d) => d.campaign.id === snapshot.campaign.id);
    if (at >= 0) committed.splice(at, 1);
    const ctx = new BatchContext(snapshot, env);
    const results = cmds.map((cmd) => this.applyOne(ctx, cmd));
    assertConservation(ctx.campaign);
    if (!ctx.changed) return { writes: null, result: results };
    committed.push({ campaign: ctx.campaign, confirmed: ctx.confirmed });
    return { writes: ctx.finish(), result: results };
  }

  private applyOne(ctx: BatchContext, cmd: Command): Outcome {
    if (cmd.idem) {
      const prev = ctx.idempotency(cmd.idem.key);
      if (prev) return { ...this.replay(prev, cmd.idem), replayed: true };
    }
    let outcome: Outcome;
    try {
      const handler = handlers[cmd.type] as (ctx: BatchContext, cmd: Command) => unknown;
      outcome = { ok: true, value: handler(ctx, cmd) };
    } catch (e) {
      // Not decided and not an answer: nothing is recorded under its key (see Engine.redeem).
      if (e instanceof VelocityChanged) {
        return { ok: false, error: { code: 'overloaded', message: e.message }, velocity_now: { velocity: e.velocity } };
      }
      if (!(e instanceof Rejection)) throw e;
      outcome = toOutcomeError(e);
    }
    if (cmd.idem) {
      ctx.recordIdempotency({
        key: cmd.idem.key,
        fingerprint: cmd.idem.fingerprint,
        result: outcome,
        created_at_ms: ctx.now_ms,
      });
    }
    return outcome;
  }
}
