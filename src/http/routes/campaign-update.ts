import type { FastifyInstance } from 'fastify';
import { CampaignView } from '../campaign-schemas.ts';
import { CampaignUpdate, campaignPatchOf } from '../campaign-update-input.ts';
import { actorOf } from '../idempotency.ts';
import { errorResponses, IdempotencyHeaders, IdParams } from '../schemas.ts';
import type { TypeBoxProvider } from '../validator.ts';
import { campaignView } from '../views.ts';
import type { RouteDeps } from './deps.ts';

/** `POST /v1/campaigns/{id}` (admin): Stripe-style update with a partial campaign. */
export async function campaignUpdateRoutes(base: FastifyInstance, deps: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  const { engine, metrics } = deps;
  app.post(
    '/v1/campaigns/:id',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Change a campaign; a risky change to a live campaign goes back to pending_approval',
        params: IdParams,
        headers: IdempotencyHeaders,
        body: CampaignUpdate,
        response: { 200: CampaignView, ...errorResponses },
      },
    },
    async (request) => {
      const c = await engine.updateCampaign(request.params.id, campaignPatchOf(request.body), actorOf(request));
      metrics.observeCampaign(c);
      return campaignView(c);
    },
  );
}
