import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { maxExposureMinor } from '../../domain/exposure.ts';
import { hasErrors, hasWarnings, lintCampaign } from '../../domain/lint.ts';
import { campaignSpecOf } from '../campaign-input.ts';
import { CampaignCreate, LintFinding } from '../campaign-schemas.ts';
import { errorResponses, IdempotencyHeaders } from '../schemas.ts';
import type { TypeBoxProvider } from '../validator.ts';
import type { RouteDeps } from './deps.ts';

export const CampaignLintView = Type.Object({
  lint: Type.Array(LintFinding),
  max_exposure_minor: Type.Integer(),
  approval_threshold_minor: Type.Integer(),
  on_submit: Type.Union(
    [Type.Literal('campaign_lint_failed'), Type.Literal('pending_approval'), Type.Literal('active')],
    {
      description: 'what POST /v1/campaigns/{id}/submit would do with this campaign now',
    },
  ),
});

/**
 * Dry run of campaign creation: the same parsing, lint and exposure as POST /v1/campaigns,
 * creating nothing (with an Idempotency-Key, only the answer is kept for its replay). The console
 * calls it as the marketer types, so the form shows exactly the findings, worst case and approval
 * outcome the server will enforce (its clock, its threshold).
 */
export async function campaignLintRoutes(base: FastifyInstance, { engine, replies }: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  app.post(
    '/v1/campaigns/lint',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Dry run: lint findings and worst-case exposure of a campaign, without storing it',
        headers: IdempotencyHeaders,
        body: CampaignCreate,
        response: { 200: CampaignLintView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const spec = campaignSpecOf(request.body);
      // Like every POST, an Idempotency-Key replays the first answer (the lint as of then) and
      // refuses another body under the same key.
      const answer = await replies.once(request, async () => {
        const lint = lintCampaign(spec, { now_ms: engine.now() });
        const max_exposure_minor = maxExposureMinor(spec);
        const threshold_minor = engine.approval_threshold_minor;
        const risky = hasWarnings(lint) || max_exposure_minor > threshold_minor;
        const on_submit = hasErrors(lint) ? 'campaign_lint_failed' : risky ? 'pending_approval' : 'active';
        const body = { lint, max_exposure_minor, approval_threshold_minor: threshold_minor, on_submit } as const;
        return { status: 200, body };
      });
      return reply.code(answer.status).send(answer.body);
    },
  );
}
