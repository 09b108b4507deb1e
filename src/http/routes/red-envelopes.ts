import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { limits } from '../../config/limits.ts';
import type { RedEnvelopeTerms } from '../../domain/red-envelope-campaign.ts';
import { defaultProductKinds } from '../campaign-input.ts';
import { errorCodeOf } from '../errors.ts';
import { actorOf } from '../idempotency.ts';
import { productKindsOf } from '../product-kind-input.ts';
import { RedEnvelopeMetrics } from '../red-envelope-metrics.ts';
import {
  GrabBody,
  GrabView,
  RedEnvelopeCreate,
  RedEnvelopeListQuery,
  RedEnvelopeView,
} from '../red-envelope-schemas.ts';
import { createdEnvelopeView, grabView, redEnvelopeView } from '../red-envelope-view.ts';
import { errorResponses, IdempotencyHeaders, IdParams, Page } from '../schemas.ts';
import { parseTimestampMs } from '../time.ts';
import type { TypeBoxProvider } from '../validator.ts';
import { pageView } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const tags = ['red envelopes'];

/** The wire's envelope (RFC 3339, optional coupon terms) to the domain's terms (ms, defaults filled in). */
function termsOf(body: Static<typeof RedEnvelopeCreate>): RedEnvelopeTerms {
  const coupon = body.coupon ?? {};
  return {
    currency: body.currency,
    total_minor: body.total_minor,
    count: body.count,
    min_amount_minor: body.min_amount_minor ?? 1,
    expires_at_ms: parseTimestampMs(body.expires_at, 'expires_at'),
    coupon: {
      min_spend_minor: coupon.min_spend_minor ?? 0,
      product_kinds: coupon.product_kinds
        ? productKindsOf(coupon.product_kinds, 'coupon.product_kinds')
        : [...defaultProductKinds],
      coupon_ttl_s: coupon.coupon_ttl_s ?? limits.red_envelope_coupon_ttl_s_default,
    },
  };
}

export async function redEnvelopeRoutes(base: FastifyInstance, deps: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  const { engine } = deps;
  const metrics = new RedEnvelopeMetrics(deps.metrics.registry, engine);

  app.post(
    '/v1/red-envelopes',
    {
      schema: {
        tags,
        summary: 'Create a red envelope: split now into random packets, grabbable until expires_at',
        headers: IdempotencyHeaders,
        body: RedEnvelopeCreate,
        response: { 201: RedEnvelopeView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const c = await engine.envelopes.create(termsOf(request.body), actorOf(request));
      metrics.observeCreated(c);
      return reply.code(201).send(createdEnvelopeView(c));
    },
  );

  app.get(
    '/v1/red-envelopes',
    {
      config: { scopes: ['read'] },
      schema: {
        tags,
        summary: 'List red envelopes, newest first',
        querystring: RedEnvelopeListQuery,
        response: { 200: Page(RedEnvelopeView), ...errorResponses },
      },
    },
    async (request) => {
      const now_ms = engine.now();
      return pageView(await engine.envelopes.list(request.query), (c) => redEnvelopeView(c, now_ms));
    },
  );

  app.get(
    '/v1/red-envelopes/:id',
    {
      config: { scopes: ['read'] },
      schema: {
        tags,
        summary: 'Get a red envelope: grabbed, remaining, refunded',
        params: IdParams,
        response: { 200: RedEnvelopeView, ...errorResponses },
      },
    },
    async (request) => redEnvelopeView(await engine.envelopes.get(request.params.id), engine.now()),
  );

  app.post(
    '/v1/red-envelopes/:id/grab',
    {
      config: { scopes: ['checkout'] },
      schema: {
        tags,
        summary: 'Grab one packet: a fixed-value coupon for the user, once per user',
        params: IdParams,
        headers: IdempotencyHeaders,
        body: GrabBody,
        response: { 201: GrabView, ...errorResponses },
      },
    },
    async (request, reply) => {
      try {
        const g = await engine.envelopes.grab(request.params.id, request.body.user_id, actorOf(request));
        metrics.grab('grabbed');
        return reply.code(201).send(grabView(g));
      } catch (e) {
        metrics.grab(errorCodeOf(e));
        throw e;
      }
    },
  );
}
