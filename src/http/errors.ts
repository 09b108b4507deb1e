import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvariantViolation, Rejection, type RejectionCode } from '../domain/errors.ts';
import { StoreUnavailable } from '../store/port.ts';
import { needsRetryAfter, statusByCode } from './error-status.ts';
import { duplicateKey, nonIntegerLiteral } from './json-text.ts';
import { unstorableString } from './storable-strings.ts';
import { paramOf } from './validator.ts';

export interface ErrorBody {
  error: { code: string; message: string; param?: string };
}

export function errorBody(code: RejectionCode, message: string, param?: string): ErrorBody {
  return { error: { code, message, ...(param !== undefined ? { param } : {}) } };
}

/** What an error becomes on the wire, and how loudly it is logged. */
interface Answer {
  status: number;
  body: ErrorBody;
  retry_after_s?: number | undefined;
  log: 'none' | 'warn' | 'error' | 'fatal';
}

/**
 * Shedding load (overloaded: the in-flight limit, a full engine queue, shutting down) is the
 * server working as meant, not an internal error: hardening.ts warns once as it starts. A
 * service the server needs being away (store_unavailable: the store, or Redis for velocity
 * limits) is a warning with its cause; only internal_error is logged as one.
 */
function answer(code: RejectionCode, message: string, param?: string, retry_after_s?: number): Answer {
  const status = statusByCode[code];
  const log = code === 'store_unavailable' ? 'warn' : status >= 500 && code !== 'overloaded' ? 'error' : 'none';
  return { status, body: errorBody(code, message, param), retry_after_s, log };
}

const validationContexts = new Set(['body', 'querystring', 'params', 'headers']);

/** A schema failure names the field at fault (`order.amount_minor`) and says what was expected. */
function validationAnswer(err: FastifyError): Answer {
  const first = err.validation?.[0];
  const where = err.validationContext ?? 'body';
  const path = first?.instancePath ?? '';
  const param = where === 'headers' && path === '/idempotency-key' ? 'Idempotency-Key' : paramOf(path);
  const what = (first?.message ?? 'is invalid').replace(/^Expected /, 'expected ');
  const subject = param ?? (validationContexts.has(where) ? where : 'request');
  return answer('invalid_request', `${subject}: ${what}`, param);
}

/** Fastify's own client errors (framing, content type, JSON) by code. */
function fastifyAnswer(err: FastifyError): Answer | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return answer('payload_too_large', 'request body is larger than 1 MiB');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return answer('invalid_request', 'request body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return answer('invalid_request', 'send JSON with Content-Type: application/json');
    case 'FST_ERR_BAD_URL':
      return answer('invalid_request', 'malformed URL');
    default:
      break;
  }
  if (err.statusCode === 413) return answer('payload_too_large', 'request body is larger than 1 MiB');
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return answer('invalid_request', 'malformed request');
  }
  return null;
}

/** Every error to one API.md shape; a bug is a 500 with no detail in the body, logged loudly. */
export function classify(err: FastifyError | Error): Answer {
  if (err instanceof Rejection) return answer(err.code, err.message, err.param, err.retry_after_s);
  if (err instanceof StoreUnavailable) {
    return { ...answer('store_unavailable', 'the store is unavailable; retry shortly', undefined, 1), log: 'warn' };
  }
  if (err instanceof InvariantViolation) return { ...answer('internal_error', 'internal error'), log: 'fatal' };
  const fe = err as FastifyError;
  if (fe.validation) return validationAnswer(fe);
  return fastifyAnswer(fe) ?? answer('internal_error', 'internal error');
}

/** The API.md code the answer to this error carries (a store outage: store_unavailable; a bug: internal_error). */
export function errorCodeOf(err: unknown): string {
  return classify(err instanceof Error ? err : new Error(String(err))).body.error.code;
}

export function sendError(request: FastifyRequest, reply: FastifyReply, err: FastifyError | Error): FastifyReply {
  const a = classify(err);
  if (a.log === 'fatal') request.log.fatal({ err }, 'invariant violated: this is a bug, money rules may be at stake');
  else if (a.log === 'error') request.log.error({ err }, 'internal error');
  else if (a.log === 'warn') request.log.warn({ err: { name: err.name, message: err.message } }, 'service unavailable');
  reply.header('x-request-id', request.id);
  const retry_after_s = a.retry_after_s ?? (needsRetryAfter(a.status) ? 1 : undefined);
  if (retry_after_s !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(retry_after_s))));
  return reply.code(a.status).type('application/json; charset=utf-8').send(a.body);
}

/**
 * API.md: non-integer money is 400. Every number the API takes is an integer, and JSON.parse
 * would hand the schema `1000.0` or `1e3` as 1000, so the literal as written is refused.
 */
function nonIntegerRejection(text: string): Rejection | null {
  const literal = nonIntegerLiteral(text);
  if (!literal.found) return null;
  const message = 'numbers must be written as integers, without a fraction or exponent';
  return new Rejection('invalid_request', `${literal.param ?? 'body'}: ${message}`, literal.param);
}

/** A key named twice in one object: JSON.parse keeps the last, a proxy in front may have read the first. */
function duplicateKeyRejection(text: string, value: unknown): Rejection | null {
  const dup = duplicateKey(text, value);
  if (!dup.found) return null;
  const message = 'a key appears twice in one object, so the body could be read two ways';
  return new Rejection('invalid_request', `${dup.param ?? 'body'}: ${message}`, dup.param);
}

/** A lone surrogate or NUL in any string: refused before anything is checked or stored (storable-strings.ts). */
function unstorableRejection(text: string, value: unknown): Rejection | null {
  const found = unstorableString(text, value);
  if (!found) return null;
  const message = 'strings must be well-formed Unicode (no lone surrogates) without NUL characters';
  return new Rejection('invalid_request', `${found.param ?? 'body'}: ${message}`, found.param);
}

/** 404 not_found for a request no route matches. */
export function sendNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0] ?? '';
  return reply.code(404).send(errorBody('not_found', `no route ${request.method} ${path.slice(0, 200)}`));
}

/**
 * onRequest, after the key check: an unmatched request is answered at once, so its body is never
 * read or parsed (without it, anyone could make the JSON parser chew on 1 MiB bodies for free).
 * The not-found handler below stays for any request that would get past it.
 */
export function notFoundHook(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  if (request.is404) sendNotFound(request, reply);
  else done();
}

/**
 * Error handler, 404 handler and a JSON parser that treats an empty body as none and takes integers
 * only. JSON is the only body taken: Fastify's built-in text/plain parser is removed, so a text body
 * (what fetch() sends for a string without headers) is refused as XML or a form is, rather than read
 * as a string that a route without a body schema (revoke, rotate) would act on regardless.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => sendError(request, reply, err));
  app.setNotFoundHandler(sendNotFound);
  app.removeContentTypeParser('text/plain');
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.length === 0) return done(null, undefined);
    parseJson(request, text, (err, value) => {
      // Broken JSON keeps its own answer; only a parsed body is checked for non-integers.
      if (err) return done(err);
      const refused =
        nonIntegerRejection(text) ?? duplicateKeyRejection(text, value) ?? unstorableRejection(text, value);
      if (refused) return done(refused);
      done(null, value);
    });
  });
}
