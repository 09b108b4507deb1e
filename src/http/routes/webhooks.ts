import type { FastifyInstance } from 'fastify';
import type { Webhooks } from '../../events/webhooks.ts';
import { keyOf } from '../auth.ts';
import {
  DeliveryListQuery,
  DeliveryView,
  WebhookCreate,
  WebhookCreatedView,
  WebhookDeletedView,
  WebhookView,
} from '../event-schemas.ts';
import { deliveryView, webhookView } from '../event-views.ts';
import { errorResponses, IdempotencyHeaders, IdParams, listFields, Page, Query } from '../schemas.ts';
import type { TypeBoxProvider } from '../validator.ts';
import { pageView } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const tags = ['webhooks'];
const ListQuery = Query(listFields('whk'));
const read = { scopes: ['read'] as const };

/**
 * Webhook endpoints: admin creates and deletes, `read` may also read (API.md's `read` is every
 * GET). The secret is in the create answer only, so no GET shows it; DELETE removes one.
 */
export async function webhookRoutes(base: FastifyInstance, deps: RouteDeps & { webhooks: Webhooks }): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  const { webhooks } = deps;

  app.post(
    '/v1/webhooks',
    {
      schema: {
        tags,
        summary: 'Create a webhook; it receives the events it names from its creation on',
        headers: IdempotencyHeaders,
        body: WebhookCreate,
        response: { 201: WebhookCreatedView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const actor = keyOf(request).id;
      const answer = await deps.replies.once(
        request,
        async () => {
          const w = await webhooks.create(request.body, actor);
          return { status: 201, body: { ...webhookView(w), secret: w.secret } };
        },
        { secret: true },
      );
      return reply.code(answer.status).send(answer.body as never);
    },
  );

  app.get(
    '/v1/webhooks',
    {
      config: read,
      schema: {
        tags,
        summary: 'List webhooks, newest first',
        querystring: ListQuery,
        response: { 200: Page(WebhookView), ...errorResponses },
      },
    },
    async (request) => pageView(await webhooks.list(request.query), webhookView),
  );

  app.get(
    '/v1/webhooks/:id',
    {
      config: read,
      schema: { tags, summary: 'Get a webhook', params: IdParams, response: { 200: WebhookView, ...errorResponses } },
    },
    async (request) => webhookView(await webhooks.get(request.params.id)),
  );

  app.delete(
    '/v1/webhooks/:id',
    {
      schema: {
        tags,
        summary: 'Delete a webhook: no new deliveries, pending ones are cancelled',
        params: IdParams,
        response: { 200: WebhookDeletedView, ...errorResponses },
      },
    },
    async (request) => {
      const w = await webhooks.delete(request.params.id, keyOf(request).id);
      return { id: w.id, deleted: true as const };
    },
  );

  app.get(
    '/v1/webhooks/:id/deliveries',
    {
      config: read,
      schema: {
        tags,
        summary: 'Delivery log of a webhook, newest event first; starting_after is an event id',
        params: IdParams,
        querystring: DeliveryListQuery,
        response: { 200: Page(DeliveryView), ...errorResponses },
      },
    },
    async (request) => pageView(await webhooks.deliveries(request.params.id, request.query), deliveryView),
  );
}
