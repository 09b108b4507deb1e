import { createVouchsafeClient, type paths, type VouchsafeClient } from '../../../client/index.ts';

export type { VouchsafeClient };

/** Wire shapes, taken from the generated client so they follow the server's schemas. */
type Ok<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  responses: { 200: { content: { 'application/json': infer T } } };
}
  ? T
  : paths[P][M] extends { responses: { 201: { content: { 'application/json': infer T } } } }
    ? T
    : never;
type Body<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody: { content: { 'application/json': infer B } };
}
  ? B
  : paths[P][M] extends { requestBody?: { content: { 'application/json': infer B } } }
    ? B
    : never;

export type Campaign = Ok<'/v1/campaigns/{id}', 'get'>;
export type CampaignCreate = Body<'/v1/campaigns', 'post'>;
export type CampaignLint = Ok<'/v1/campaigns/lint', 'post'>;
export type LintFinding = Campaign['lint'][number];
export type Exposure = Ok<'/v1/campaigns/{id}/exposure', 'get'>;
/** The statuses the campaign list can be filtered by. */
export type CampaignStatus = NonNullable<NonNullable<paths['/v1/campaigns']['get']['parameters']['query']>['status']>;

const key_storage = 'vouchsafe.api_key';

/** The key lives for this tab only (sessionStorage): closing the tab signs out. */
export function savedKey(): string | null {
  return sessionStorage.getItem(key_storage);
}

export function saveKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(key_storage);
  else sessionStorage.setItem(key_storage, key);
}

const unauthenticated = new EventTarget();
let held = 0;

/**
 * A client for one key. A 401 signs the console out only when it answers the key the console is
 * signed in with now, and no rotation of that key is under way (holdSignOut): a request still in
 * flight with a key just rotated away must not sign out the console that moved to the new key.
 */
export function clientFor(key: string): VouchsafeClient {
  const client = createVouchsafeClient(location.origin, key);
  client.use({
    onResponse({ response }) {
      if (response.status === 401 && held === 0 && savedKey() === key) {
        unauthenticated.dispatchEvent(new Event('signout'));
      }
      return undefined;
    },
  });
  return client;
}

/** Runs `work` (rotating the key the console is signed in with) with 401s not signing the console out. */
export async function holdSignOut<T>(work: () => Promise<T>): Promise<T> {
  held += 1;
  try {
    return await work();
  } finally {
    held -= 1;
  }
}

/** An error answer of the API (API.md shape), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param?: string,
    /** Seconds the server's Retry-After asks to wait (429, 503), when it sent one. */
    readonly retry_after_s?: number,
  ) {
    super(message);
  }
}

type Answer<T> = { data?: T; error?: unknown; response: Response };

function errorOf(status: number, body: unknown, retry_after: string | null): ApiError {
  const e = (body as { error?: { code?: unknown; message?: unknown; param?: unknown } } | undefined)?.error;
  const code = typeof e?.code === 'string' ? e.code : `http_${status}`;
  const message = typeof e?.message === 'string' ? e.message : `The server answered ${status}.`;
  const wait_s = retry_after !== null && /^\d+$/.test(retry_after) ? Number(retry_after) : undefined;
  return new ApiError(status, code, message, typeof e?.param === 'string' ? e.param : undefined, wait_s);
}

/** Called when a request with the signed-in key answers 401: the key was revoked or mistyped (see clientFor). */
export function onUnauthenticated(listener: () => void): () => void {
  unauthenticated.addEventListener('signout', listener);
  return () => unauthenticated.removeEventListener('signout', listener);
}

/** The body of a 2xx answer, or an ApiError. */
export async function ok<T>(pending: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await pending;
  } catch {
    throw new ApiError(0, 'network_error', 'The server could not be reached.');
  }
  const { data, error, response } = answer;
  if (response.ok && data !== undefined) return data;
  throw errorOf(response.status, error, response.headers.get('retry-after'));
}

/** Like ok, but a 404 for the route itself (a feature this server does not have yet) is null. */
export async function optional<T>(pending: Promise<Answer<T>>): Promise<T | null> {
  try {
    return await ok(pending);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/**
 * Approves the campaign as this screen shows it: its updated_at goes along, so a campaign
 * changed since it was displayed is refused (409 invalid_state) instead of approved unseen.
 */
export function approveCampaign(api: VouchsafeClient, c: Pick<Campaign, 'id' | 'updated_at'>): Promise<Campaign> {
  return ok(
    api.POST('/v1/campaigns/{id}/approve', {
      params: { path: { id: c.id } },
      body: { expected_updated_at: c.updated_at },
    }),
  );
}

/** The refusal of approveCampaign for a campaign that changed since it was displayed. */
export function isStaleApproval(e: unknown): boolean {
  return e instanceof ApiError && e.code === 'invalid_state' && e.param === 'expected_updated_at';
}

/** What an error says to the operator: the API's message and code, and how long to wait when the server said so. */
export function messageOf(e: unknown): string {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e);
  if (e.status === 0) return e.message;
  const wait = e.retry_after_s === undefined ? '' : ` Try again in ${e.retry_after_s} s.`;
  return `${e.message} (${e.code}).${wait}`;
}

export type Alert = Ok<'/v1/alerts', 'get'>['data'][number];
export type AuditEntry = Ok<'/v1/audit', 'get'>['data'][number];
export type AuditVerify = Ok<'/v1/audit/verify', 'get'>;
export type AuditDigest = Ok<'/v1/audit/digest', 'get'>;
export type Incident = Ok<'/v1/incidents/{id}', 'get'>;
export type IncidentOpen = Body<'/v1/incidents', 'post'>;
export type IncidentAction = IncidentOpen['actions'][number];
export type RedEnvelope = Ok<'/v1/red-envelopes/{id}', 'get'>;
export type ApiKey = Ok<'/v1/api-keys', 'get'>['data'][number];
export type ApiScope = ApiKey['scopes'][number];
export type Webhook = Ok<'/v1/webhooks', 'get'>['data'][number];
export type WebhookEvent = Body<'/v1/webhooks', 'post'>['events'][number];
export type Delivery = Ok<'/v1/webhooks/{id}/deliveries', 'get'>['data'][number];

/**
 * An Idempotency-Key for one action the console sends (`console-<what>-` and 128 random bits), kept
 * by the caller until the action's answer arrives, so that a retry after a lost answer replays it.
 * Not crypto.randomUUID: that exists only in secure contexts, and a console may be served over plain HTTP.
 */
export function newIdempotencyKey(what: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${what}-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
