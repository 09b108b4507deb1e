import type { FastifyInstance } from 'fastify';
import type { Redemption } from '../../domain/redemption.ts';
import { errorCodeOf } from '../errors.ts';
import { actorOf } from '../idempotency.ts';
import type { HttpMetrics } from '../metrics.ts';
import { redeemInputOf } from '../redeem-input.ts';
import {
  EmptyBody,
  RedemptionCreate,
  RedemptionListQuery,
  RedemptionView,
  ReverseBody,
} from '../redemption-schemas.ts';
import { errorResponses, IdempotencyHeaders, IdParams, Page } from '../schemas.ts';
import type { TypeBoxProvider, TypedApp } from '../validator.ts';
import { pageView, redemptionView } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const tags = ['redemptions'];
const checkout = { scopes: ['checkout'] as const };
const read = { scopes: ['read'] as const };

/** Counts every redemption attempt (and confirmation) by its outcome: the status, or the error code answered. */
async function counted(metrics: HttpMetrics, work: Promise<Redemption>): Promise<Redemption> {
  try {
    const r = await work;
    metrics.redemption(r.status);
    return r;
  } catch (e) {
    metrics.redemption(errorCodeOf(e));
    throw e;
  }
}

/** Redemption routes: create, list, read, and the confirm / release / reverse moves. */
export async function redemptionRoutes(base: FastifyInstance, deps: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  createAndRead(app, deps);
  moves(app, deps);
}

function createAndRead(app: TypedApp, { engine, metrics }: RouteDeps): void {
  app.post(
    '/v1/redemptions',
    {
      config: checkout,
      schema: {
        tags,
        summary: 'Reserve (or with confirm, spend) a discount for an order',
        headers: IdempotencyHeaders,
        body: RedemptionCreate,
        response: { 201: RedemptionView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const input = redeemInputOf(request.body);
      const r = await counted(metrics, engine.redeem(input, actorOf(request)));
      return reply.code(201).send(redemptionView(r));
    },
  );

  app.get(
    '/v1/redemptions',
    {
      config: read,
      schema: {
        tags,
        summary: 'List redemptions, newest first',
        querystring: RedemptionListQuery,
        response: { 200: Page(RedemptionView), ...errorResponses },
      },
    },
    async (request) => pageView(await engine.listRedemptions(request.query), redemptionView),
  );

  app.get(
    '/v1/redemptions/:id',
    {
      config: read,
      schema: {
        tags,
        summary: 'Get a redemption',
        params: IdParams,
        response: { 200: RedemptionView, ...errorResponses },
      },
    },
    async (request) => redemptionView(await engine.getRedemption(request.params.id)),
  );
}

const verbs = [
  { verb: 'confirm', summary: 'Confirm a reserved redemption: the money is spent', body: EmptyBody },
  { verb: 'release', summary: 'Release a hold: budget, limits and coupon return', body: EmptyBody },
  { verb: 'reverse', summary: 'Reverse a confirmed or frozen redemption (refund)', body: ReverseBody },
] as const;

function moves(app: TypedApp, { engine, metrics }: RouteDeps): void {
  for (const { verb, summary, body } of verbs) {
    app.post(
      `/v1/redemptions/:id/${verb}`,
      {
        config: checkout,
        schema: {
          tags,
          summary,
          params: IdParams,
          headers: IdempotencyHeaders,
          body,
          response: { 200: RedemptionView, ...errorResponses },
        },
      },
      async (request) => {
        const id = request.params.id;
        const who = actorOf(request);
        const b = request.body as { restore_coupon?: boolean };
        if (verb === 'confirm') return redemptionView(await counted(metrics, engine.confirm(id, who)));
        if (verb === 'release') return redemptionView(await engine.release(id, who));
        return redemptionView(await engine.reverse(id, b.restore_coupon ?? false, who));
      },
    );
  }
}
