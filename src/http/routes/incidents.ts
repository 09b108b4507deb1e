import type { FastifyInstance, FastifyRequest } from 'fastify';
import { emergencyStop } from '../../engine/incidents/emergency-stop.ts';
import { Incidents } from '../../engine/incidents/incidents.ts';
import { keyOf } from '../auth.ts';
import {
  EmergencyStopBody,
  EmergencyStopView,
  IncidentCreate,
  IncidentResolve,
  IncidentView,
} from '../incident-schemas.ts';
import { incidentInputOf, incidentView } from '../incident-views.ts';
import { errorResponses, IdempotencyHeaders, IdParams, listFields, Page, pageBytesNote, Query } from '../schemas.ts';
import type { TypeBoxProvider, TypedApp } from '../validator.ts';
import { pageView } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const tags = ['incidents'];

/** Incidents log their progress on the request's logger. */
function incidentsFor(deps: RouteDeps, request: FastifyRequest): Incidents {
  return new Incidents(deps.engine, (msg, data) => request.log.info(data, msg));
}

/** Incidents (open, resolve, read) and the global emergency stop; admin only. */
export async function incidentRoutes(base: FastifyInstance, deps: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  openAndResolve(app, deps);
  reads(app, deps);
  stop(app, deps);
}

function openAndResolve(app: TypedApp, deps: RouteDeps): void {
  app.post(
    '/v1/incidents',
    {
      config: { kill_switch: true },
      schema: {
        tags,
        summary: 'Open an incident: pause, freeze, revoke in scope; answers with the exposure report',
        headers: IdempotencyHeaders,
        body: IncidentCreate,
        response: { 201: IncidentView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const answer = await deps.replies.once(request, async () => {
        const input = incidentInputOf(request.body);
        const incident = await incidentsFor(deps, request).open(input, { actor: keyOf(request).id });
        return { status: 201, body: incidentView(incident) };
      });
      return reply.code(answer.status).send(answer.body);
    },
  );

  app.post(
    '/v1/incidents/:id/resolve',
    {
      schema: {
        tags,
        summary: 'Resolve: reverse (refund) or honour (confirm) every redemption the incident froze',
        params: IdParams,
        headers: IdempotencyHeaders,
        body: IncidentResolve,
        response: { 200: IncidentView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const answer = await deps.replies.once(request, async () => {
        const who = { actor: keyOf(request).id };
        const incident = await incidentsFor(deps, request).resolve(request.params.id, request.body.resolution, who);
        return { status: 200, body: incidentView(incident) };
      });
      return reply.code(answer.status).send(answer.body);
    },
  );
}

/** Incidents are opened and resolved by admin; `read` may read them (API.md's `read` is every GET). */
function reads(app: TypedApp, deps: RouteDeps): void {
  app.get(
    '/v1/incidents',
    {
      config: { scopes: ['read'] },
      schema: {
        tags,
        summary: `List incidents, newest first. ${pageBytesNote('incidents')}`,
        querystring: Query(listFields('inc')),
        response: { 200: Page(IncidentView), ...errorResponses },
      },
    },
    async (request) => {
      const page = await incidentsFor(deps, request).list({ ...request.query, page_bytes_max: deps.page_bytes_max });
      return pageView(page, incidentView);
    },
  );

  app.get(
    '/v1/incidents/:id',
    {
      config: { scopes: ['read'] },
      schema: {
        tags,
        summary: 'Get an incident (with progress while it runs)',
        params: IdParams,
        response: { 200: IncidentView, ...errorResponses },
      },
    },
    async (request) => incidentView(await incidentsFor(deps, request).get(request.params.id)),
  );
}

function stop(app: TypedApp, deps: RouteDeps): void {
  app.post(
    '/v1/emergency-stop',
    {
      config: { kill_switch: true },
      schema: {
        tags,
        summary: 'Global kill switch: pause every active or pending_approval campaign',
        headers: IdempotencyHeaders,
        body: EmergencyStopBody,
        response: { 200: EmergencyStopView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const answer = await deps.replies.once(request, async () => {
        const out = await emergencyStop(deps.engine, request.body.reason, { actor: keyOf(request).id });
        request.log.warn({ paused: out.paused }, 'emergency stop');
        return { status: 200, body: out };
      });
      return reply.code(answer.status).send(answer.body);
    },
  );
}
