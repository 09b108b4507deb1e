import type { FastifyInstance } from 'fastify';
import type { CampaignAction } from '../../engine/commands.ts';
import { campaignSpecOf } from '../campaign-input.ts';
import {
  CampaignActionBody,
  CampaignCreate,
  CampaignListQuery,
  CampaignView,
  CodesBody,
  CodesView,
  ExposureView,
} from '../campaign-schemas.ts';
import { exposureView } from '../exposure-view.ts';
import { actorOf } from '../idempotency.ts';
import { errorResponses, IdempotencyHeaders, IdParams, Page } from '../schemas.ts';
import type { TypeBoxProvider, TypedApp } from '../validator.ts';
import { campaignView, pageView } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const tags = ['campaigns'];

const actions: ReadonlyArray<{ action: CampaignAction; summary: string }> = [
  { action: 'submit', summary: 'Lint and submit: active, or pending_approval when risky' },
  { action: 'approve', summary: 'Approve a pending campaign (a different key than its maker)' },
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

function createAndRead(app: TypedApp, { engine, metrics }: RouteDeps): void {
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
        summary: 'List campaigns, newest first',
        querystring: CampaignListQuery,
        response: { 200: Page(CampaignView), ...errorResponses },
      },
    },
    async (request) => pageView(await engine.listCampaigns(request.query), campaignView),
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

function lifecycle(app: TypedApp, { engine, metrics }: RouteDeps): void {
  for (const { action, summary } of actions) {
    app.post(
      `/v1/campaigns/:id/${action}`,
      {
        config: { scopes: action === 'approve' ? ['approver'] : [] },
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
    async (request) => exposureView(engine.store, await engine.getCampaign(request.params.id)),
  );
}
