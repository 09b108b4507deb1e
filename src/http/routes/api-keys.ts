import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiKeyRecord } from '../../store/port.ts';
import { revokeApiKey, rotateApiKey } from '../api-key-lifecycle.ts';
import { createApiKey, type Scope } from '../api-keys.ts';
import { forgetCachedKey, keyOf } from '../auth.ts';
import {
  ApiKeyCreate,
  ApiKeyCreatedView,
  ApiScope,
  Body,
  errorResponses,
  IdempotencyHeaders,
  IdParams,
  listFields,
  Page,
  Query,
} from '../schemas.ts';
import { formatNullableTimestamp, formatTimestamp } from '../time.ts';
import type { TypeBoxProvider } from '../validator.ts';
import type { RouteDeps } from './deps.ts';

const tags = ['keys'];

/** A key as it can be shown after creation: never its secret or its hash. */
export const ApiKeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(ApiScope),
  created_at: Type.String(),
  revoked_at: Type.Union([Type.String(), Type.Null()]),
  created_by: Type.Union([Type.String(), Type.Null()], {
    description:
      'the key that created this one (null for the bootstrap key and keys made with `vouchsafe keys create`); maker-checker follows it',
  }),
  replaces: Type.Union([Type.String(), Type.Null()], {
    description: 'the key this one replaced by rotation, or null',
  }),
});

/** Revoke and rotate take no fields (rotation keeps the name and scopes): one sent is 400, not ignored. */
const NoFields = Body({}, 'Takes no fields; the body may be left out.');

const RotatedView = Type.Object({
  ...ApiKeyCreatedView.properties,
  replaces: Type.String({ description: 'the id of the key this one replaces, revoked by the same call' }),
});

function keyView(k: ApiKeyRecord) {
  return {
    id: k.id,
    name: k.name,
    scopes: k.scopes as Scope[],
    created_at: formatTimestamp(k.created_at_ms),
    revoked_at: formatNullableTimestamp(k.revoked_at_ms),
    created_by: k.created_by,
    replaces: k.replaces,
  };
}

/** A key just made (created or rotated): its view with the secret, shown in this answer only. */
function createdView(k: ApiKeyRecord, secret: string) {
  const { id, name, scopes, created_at } = keyView(k);
  return { id, name, scopes, created_at, key: secret };
}

/**
 * API keys, admin only (a key list tells who can do what, so `read` does not see it): create
 * (the secret is in that answer only), list, revoke, and rotate (a new key with the same name and
 * scopes, the old one revoked; Stripe's "roll key"). Any key may read itself (`current`).
 */
export async function apiKeyRoutes(base: FastifyInstance, deps: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  const { engine } = deps;
  app.post(
    '/v1/api-keys',
    {
      schema: {
        tags,
        summary: 'Create an API key (admin); the key is shown only in this answer',
        headers: IdempotencyHeaders,
        body: ApiKeyCreate,
        response: { 201: ApiKeyCreatedView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const actor = keyOf(request).id;
      const answer = await deps.replies.once(
        request,
        async () => {
          const { record, secret } = await createApiKey(engine.store, engine.ids, engine.now(), {
            name: request.body.name,
            scopes: request.body.scopes,
            actor,
          });
          return { status: 201, body: createdView(record, secret) };
        },
        { secret: true },
      );
      return reply.code(answer.status).send(answer.body);
    },
  );

  app.get(
    '/v1/api-keys',
    {
      schema: {
        tags,
        summary: 'List API keys (admin), newest first, revoked ones included; never a secret',
        querystring: Query(listFields('key')),
        response: { 200: Page(ApiKeyView), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, starting_after } = request.query;
      // A handful of keys: the store lists them all, newest first (ids sort by creation).
      const all = await engine.store.listApiKeys();
      const after = starting_after === undefined ? all : all.filter((k) => k.id < starting_after);
      return { data: after.slice(0, limit).map(keyView), has_more: after.length > limit };
    },
  );

  app.get(
    '/v1/api-keys/current',
    {
      config: { scopes: ['approver', 'checkout', 'read'] },
      schema: {
        tags,
        summary: 'The key this request is made with (any scope): its id, name and scopes, never its secret',
        response: { 200: ApiKeyView, ...errorResponses },
      },
    },
    async (request) => keyView(keyOf(request)),
  );

  app.post(
    '/v1/api-keys/:id/revoke',
    {
      schema: {
        tags,
        summary: 'Revoke an API key (admin); requests with it are 401 from then on',
        headers: IdempotencyHeaders,
        params: IdParams,
        body: NoFields,
        response: { 200: ApiKeyView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const actor = keyOf(request).id;
      const answer = await deps.replies.once(request, async () => {
        const k = await revokeApiKey(engine.store, request.params.id, engine.now(), actor);
        forgetCachedKey(engine.store, k.hash);
        return { status: 200, body: keyView(k) };
      });
      return reply.code(answer.status).send(answer.body);
    },
  );

  app.post(
    '/v1/api-keys/:id/rotate',
    {
      schema: {
        tags,
        summary:
          'Rotate an API key (admin): a new key with the same name and scopes, shown only in this answer; the old one is revoked at once',
        headers: IdempotencyHeaders,
        params: IdParams,
        body: NoFields,
        response: { 201: RotatedView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const actor = keyOf(request).id;
      const answer = await deps.replies.once(
        request,
        async () => {
          const { record, secret, revoked } = await rotateApiKey(
            engine.store,
            engine.ids,
            engine.now(),
            request.params.id,
            { actor },
          );
          forgetCachedKey(engine.store, revoked.hash);
          return { status: 201, body: { ...createdView(record, secret), replaces: revoked.id } };
        },
        { secret: true },
      );
      return reply.code(answer.status).send(answer.body);
    },
  );
}
