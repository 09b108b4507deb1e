import type { FastifyInstance } from 'fastify';
import type { CampaignAction } from '../../engine/commands.ts';
import { campaignSpecOf } from '../campaign-input.ts';
import {
  CampaignActionBody,
  CampaignApproveBody,
  CampaignCreate,
  CampaignListQuery,
  CampaignView,
  CodesBody,
  CodesView,
  ExposureView,
} from '../campaign-schemas.ts';
import { exposureView } from '../exposure-view.ts';
import { actorOf } from '../idempotency.ts';
import { errorResponses, IdempotencyHeaders, IdParams, Page, pageBytesNote } from '../schemas.ts';
import { parseTimestampMs } from '../time.ts';
import type { TypeBoxProvider, TypedApp } from '../validator.ts';
import { campaignView, pageView } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const tags = ['campaigns'];

type PlainAction = { action: Exclude<CampaignAction, 'approve' | 'end'>; summary: string };

const submit: PlainAction = { action: 'submit', summary: 'Lint and submit: active, or pending_approval when risky' };
const killSwitch: readonly PlainAction[] = [
  { action: 'pause', summary: 'Kill switch: stop new claims and redemptions' },
  { action: 'resume', summary: 'Resume a paused campaign' },
  { action: 'revoke', summary: 'End for good: release holds, revoke unredeemed coupons' },
];

/** Campaign routes: create, read, the lifecycle actions, codes and exposure. */
export async function campaignRoutes(base: FastifyInstance, deps: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  createAndRead(app, deps);
  lifecycle(app, deps);
  codesAndExposure(app, deps);
}

function createAndRead(app: TypedApp, { engine, metrics, page_bytes_max }: RouteDeps): void {
  app.post(
    '/v1/campaigns',
    {
      schema: {
        tags,
        summary: 'Create a draft campaign',
        headers: IdempotencyHeaders,
        body: CampaignCreate,
        response: { 201: CampaignView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const c = await engine.createCampaign(campaignSpecOf(request.body), actorOf(request));
      metrics.observeCampaign(c);
      return reply.code(201).send(campaignView(c));
    },
  );

  app.get(
    '/v1/campaigns',
    {
      config: { scopes: ['read'] },
      schema: {
        tags,
        summary: `List campaigns, newest first. ${pageBytesNote('campaigns')}`,
        querystring: CampaignListQuery,
        response: { 200: Page(CampaignView), ...errorResponses },
      },
    },
    async (request) => pageView(await engine.listCampaigns({ ...request.query, page_bytes_max }), campaignView),
  );

  app.get(
    '/v1/campaigns/:id',
    {
      config: { scopes: ['read'] },
      schema: { tags, summary: 'Get a campaign', params: IdParams, response: { 200: CampaignView, ...errorResponses } },
    },
    async (request) => campaignView(await engine.getCampaign(request.params.id)),
  );
}

function lifecycle(app: TypedApp, deps: RouteDeps): void {
  plainAction(app, deps, submit);
  approve(app, deps);
  for (const a of killSwitch) plainAction(app, deps, a);
}

function plainAction(app: TypedApp, { engine, metrics }: RouteDeps, { action, summary }: PlainAction): void {
  app.post(
    `/v1/campaigns/:id/${action}`,
    {
      config: { kill_switch: action === 'pause' || action === 'revoke' },
      schema: {
        tags,
        summary,
        params: IdParams,
        headers: IdempotencyHeaders,
        body: CampaignActionBody,
        response: { 200: CampaignView, ...errorResponses },
      },
    },
    async (request) => {
      const c = await engine.campaignAction(request.params.id, action, actorOf(request), request.body.reason ?? null);
      metrics.observeCampaign(c);
      return campaignView(c);
    },
  );
}

/** With expected_updated_at, only the version the approver reviewed is approved (see campaign-handlers.ts). */
function approve(app: TypedApp, { engine, metrics }: RouteDeps): void {
  app.post(
    '/v1/campaigns/:id/approve',
    {
      config: { scopes: ['approver'] },
      schema: {
        tags,
        summary: 'Approve a pending campaign (a different key than its makers), optionally only the version reviewed',
        params: IdParams,
        headers: IdempotencyHeaders,
        body: CampaignApproveBody,
        response: { 200: CampaignView, ...errorResponses },
      },
    },
    async (request) => {
      const { reason, expected_updated_at } = request.body;
      const expected_ms =
        expected_updated_at === undefined ? null : parseTimestampMs(expected_updated_at, 'expected_updated_at');
      const c = await engine.campaignAction(
        request.params.id,
        'approve',
        actorOf(request),
        reason ?? null,
        expected_ms,
      );
      metrics.observeCampaign(c);
      return campaignView(c);
    },
  );
}

function codesAndExposure(app: TypedApp, { engine }: RouteDeps): void {
  app.post(
    '/v1/campaigns/:id/codes',
    {
      schema: {
        tags,
        summary: 'Generate unique bearer codes (unique_codes campaigns)',
        params: IdParams,
        headers: IdempotencyHeaders,
        body: CodesBody,
        response: { 201: CodesView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const out = await engine.generateCodes(request.params.id, request.body.count, actorOf(request));
      return reply.code(201).send({ codes: out.codes });
    },
  );

  app.get(
    '/v1/campaigns/:id/exposure',
    {
      config: { scopes: ['read'] },
      schema: {
        tags,
        summary: 'What the campaign stands to pay, by merchant and product kind',
        params: IdParams,
        response: { 200: ExposureView, ...errorResponses },
      },
    },
    async (request) => exposureView(engine.store, request.params.id),
  );
}
