import type { FastifyInstance } from 'fastify';
import { AlertListQuery, AlertView } from '../incident-schemas.ts';
import { alertView } from '../incident-views.ts';
import { errorResponses, Page } from '../schemas.ts';
import type { TypeBoxProvider } from '../validator.ts';
import { pageView } from '../views.ts';
import type { RouteDeps } from './deps.ts';

/** Detector alerts, newest first: admin, and `read` (API.md's `read` is every GET). */
export async function alertRoutes(base: FastifyInstance, { engine }: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  app.get(
    '/v1/alerts',
    {
      config: { scopes: ['read'] },
      schema: {
        tags: ['incidents'],
        summary: 'Alerts raised by the anomaly detector, newest first',
        querystring: AlertListQuery,
        response: { 200: Page(AlertView), ...errorResponses },
      },
    },
    async (request) => pageView(await engine.store.listAlerts(request.query), alertView),
  );
}
