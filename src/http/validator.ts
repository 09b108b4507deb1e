import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type ValueError, ValueErrorType } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifySchemaCompiler,
  FastifySchemaValidationError,
  FastifyTypeProvider,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';

/** Route handlers see the Static type of their TypeBox schemas. */
export interface TypeBoxProvider extends FastifyTypeProvider {
  validator: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
  serializer: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
}

/** A Fastify instance whose routes are typed by their TypeBox schemas. */
export type TypedApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxProvider
>;

/**
 * Validates with TypeBox. Bodies are checked as sent (no coercion: "100" is not an
 * amount); query strings and path params are converted from text first. A part with
 * nothing to convert (the Idempotency-Key header) is checked in place and answers no
 * `value`: Fastify then keeps the request's own object (a new headers object would be
 * merged into a fresh copy on every later read of request.headers).
 */
export const typeBoxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  const failure = (value: unknown) => {
    const first = check.Errors(value).First();
    return { error: [toValidationError(first ? explain(first) : null)] };
  };
  if (httpPart === 'body') return (input: unknown) => (check.Check(input) ? { value: input } : failure(input));
  if (!convertsFromText(schema)) {
    return (input: unknown) => {
      if (input === undefined || input === null) return check.Check({}) ? { value: {} } : failure({});
      return check.Check(input) ? true : failure(input);
    };
  }
  return (input: unknown) => {
    const value = fromQueryText(schema, Value.Default(schema, Value.Clone(input ?? {})));
    return check.Check(value) ? { value } : failure(value);
  };
};

/** True when a text part has a default to fill (anywhere) or a field fromQueryText converts. */
function convertsFromText(schema: TSchema): boolean {
  if (JSON.stringify(schema).includes('"default"')) return true;
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties;
  if (properties === undefined) return true;
  return Object.values(properties).some((p) => p.type === 'integer' || p.type === 'boolean');
}

const integerText = /^-?(0|[1-9][0-9]{0,15})$/;

/**
 * Query strings and path params are flat text. Only exact spellings convert:
 * "20" is 20, but "1.5", "1e3", "0x10" and " 5" stay text and fail validation
 * (TypeBox's own Convert would quietly turn "1.5" into 1).
 */
function fromQueryText(schema: TSchema, input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const out: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const [name, value] of Object.entries(out)) {
    const type = properties[name]?.type;
    if (typeof value !== 'string') continue;
    if (type === 'integer' && integerText.test(value)) out[name] = Number(value);
    else if (type === 'boolean' && (value === 'true' || value === 'false')) out[name] = value === 'true';
  }
  return out;
}

/**
 * A union error says only "expected union value"; the branch the client meant says what
 * is wrong: the first whose `type` it does not refuse (in a union without `type`, the first).
 * When every branch refuses the `type` (unknown or missing), none was meant: `type` is at fault.
 */
function explain(e: ValueError): ValueError {
  if (e.errors.length === 0) return e;
  // A union of literals (a status, a scope, an event type): every allowed value, not just the first branch's.
  const options = (e.schema as { anyOf?: Array<{ const?: unknown }> }).anyOf;
  if (options?.every((o) => typeof o.const === 'string' || typeof o.const === 'number')) {
    return { ...e, message: `Expected one of ${options.map((o) => `'${String(o.const)}'`).join(', ')}` };
  }
  const discriminant = `${e.path}/type`;
  const branches = e.errors.map((it) => [...it]);
  const meant = branches.find((errs) => !errs.some((x) => x.path === discriminant));
  if (meant === undefined) return unknownType(e, discriminant, branches);
  const inner = meant[0];
  return inner ? explain(inner) : e;
}

/** The discriminant's error, listing the types the branches take (`'fixed', 'percent', 'tiered'`). */
function unknownType(union: ValueError, discriminant: string, branches: ValueError[][]): ValueError {
  const at = branches.flatMap((errs) => errs.filter((x) => x.path === discriminant));
  // A missing `type` has two errors per branch (required, and not the literal): one mention each.
  const types = new Set(at.map((x) => (x.schema as { const?: unknown }).const).filter((t) => typeof t === 'string'));
  const [first] = at;
  if (first === undefined) return union;
  if (types.size === 0) return first;
  return { ...first, message: `Expected one of ${[...types].map((t) => `'${t}'`).join(', ')}` };
}

function toValidationError(e: ValueError | null): FastifySchemaValidationError {
  return {
    keyword: 'typebox',
    instancePath: e?.path ?? '',
    schemaPath: '',
    params: {},
    message: e ? messageOf(e) : 'is invalid',
  };
}

/** A format names a check of ours (`iso-4217`): its schema's description says what was expected. */
function messageOf(e: ValueError): string {
  const description = (e.schema as { description?: unknown }).description;
  if (e.type === ValueErrorType.StringFormat && typeof description === 'string') return `Expected ${description}`;
  return e.message;
}

/** `/order/amount_minor` -> `order.amount_minor`; `/discount/tiers/0/amount_minor` -> `discount.tiers[0].amount_minor`. */
export function paramOf(instancePath: string): string | undefined {
  const parts = instancePath.split('/').filter((p) => p.length > 0);
  if (parts.length === 0) return undefined;
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc === '' ? p : `${acc}.${p}`), '');
}
