import { FormatRegistry, type TObject, type TProperties, type TSchema, Type } from '@sinclair/typebox';
import { limits } from '../config/limits.ts';
import { isCurrencyCode } from '../domain/currency.ts';
import { atMostChars } from '../domain/text.ts';
import type { IdPrefix } from '../engine/ids.ts';

/** Money: a safe, non-negative integer in minor units. Floats, negatives and 1e300 are refused. */
export const Money = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'minor units' });

/** A count or limit: a positive safe integer. */
export const PositiveInt = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });

/**
 * Free text of 1-`max` characters as API.md counts them: code points (an emoji is one, not two
 * UTF-16 units); the format checks the upper bound, so a string too long by either count gets the
 * same message.
 */
export function Text(max: number) {
  const format = `chars-${max}`;
  if (!FormatRegistry.Has(format)) FormatRegistry.Set(format, (value) => atMostChars(value, max));
  return Type.String({ minLength: 1, format, description: `1-${max} characters` });
}

/** Strings that name things (user, merchant, device, order id, codes): 1-128 characters. */
export const Name = Text(limits.name_chars_max);

/** A prefixed id (`cmp_...`). */
export const Id = Type.String({ minLength: 1, maxLength: limits.name_chars_max });

FormatRegistry.Set('iso-4217', isCurrencyCode);

/**
 * An order's currency: ISO 4217's shape only. Whether it is the campaign's decides
 * (`currency_mismatch`), so a campaign stored in a code the list no longer holds still redeems.
 */
export const OrderCurrency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217', examples: ['CNY'] });

/** A campaign's or red envelope's currency: one in circulation (domain/currency.ts), `CNY`, not `cny`, `CNH` or `XXX`. */
export const Currency = Type.String({
  pattern: '^[A-Z]{3}$',
  format: 'iso-4217',
  description: 'ISO 4217 code of a currency in circulation',
  examples: ['CNY'],
});

/** RFC 3339 date-time; parsed strictly (calendar checked) in time.ts. */
export const Timestamp = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2})$',
  maxLength: 40,
  description: 'RFC 3339, e.g. 2019-01-01T00:00:00Z',
});

export const Reason = Text(limits.reason_chars_max);

export function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

/** Body objects are closed: a misspelt field is an error, not a silently missing limit. */
export function Body<P extends Record<string, TSchema>>(properties: P, description?: string) {
  return Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) });
}

export const IdParams = Type.Object({ id: Id });

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^[\\x21-\\x7E]+$',
      description: 'replays the first answer for 24 h',
    }),
  ),
});

const listLimit = Type.Integer({
  minimum: 1,
  maximum: limits.list_limit_max,
  default: limits.list_limit_default,
});

/** A list's page size: 1-100, 20 when left out. */
export const pageLimit = listLimit;

/**
 * Paging fields of a list of `prefix` ids, newest first: `starting_after` is the id of the last
 * item of the page before, so anything else (another kind's id, a stray word) is 400, not a page
 * that quietly starts somewhere.
 */
export function listFields(prefix: IdPrefix) {
  const format = `${prefix}-id`;
  if (!FormatRegistry.Has(format)) {
    const shape = new RegExp(`^${prefix}_[0-9A-Za-z_-]+$`);
    FormatRegistry.Set(format, (value) => shape.test(value));
  }
  const cursor = Type.String({
    format,
    maxLength: limits.name_chars_max,
    description: `the id (${prefix}_...) of the last item of the page before`,
  });
  return { limit: listLimit, starting_after: Type.Optional(cursor) };
}

/**
 * What a list whose items can be large says of its pages (limits.list_page_bytes_max): the page
 * is cut on the items' stored JSON, which is close to what they take on the wire.
 */
export function pageBytesNote(items: string): string {
  const mib = limits.list_page_bytes_max / (1024 * 1024);
  return `A page ends early (has_more: true, at least one item) once its ${items} carry ${mib} MiB of stored JSON (UTF-8)`;
}

/**
 * A query string. A field with a default may be left out, so the schema (and the OpenAPI
 * document, and the client generated from it) does not require it; validation fills the default
 * in before it checks (validator.ts), so handlers still see it as always present: Static keeps it
 * required, which is what a validated query holds. Closed, as bodies are: a misspelt filter
 * (`?campaign=`) is a 400 naming it, not a list of everything that looks filtered.
 */
export function Query<P extends TProperties>(properties: P): TObject<P> {
  const schema = Type.Object(properties, { additionalProperties: false });
  const json = schema as { required?: string[] };
  const required = (json.required ?? []).filter((k) => (properties[k] as { default?: unknown }).default === undefined);
  if (required.length > 0) json.required = required;
  else delete json.required;
  return schema;
}

export function Page<T extends TSchema>(item: T) {
  return Type.Object({ data: Type.Array(item), has_more: Type.Boolean() });
}

export const ErrorView = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      param: Type.Optional(Type.String()),
    }),
  },
  { description: 'Every error has this shape.' },
);

export const ApiScope = Type.Union([
  Type.Literal('admin'),
  Type.Literal('approver'),
  Type.Literal('checkout'),
  Type.Literal('read'),
]);

export const ApiKeyCreate = Body({
  name: Name,
  scopes: Type.Array(ApiScope, { minItems: 1, maxItems: 4, uniqueItems: true }),
});

export const ApiKeyCreatedView = Type.Object({
  id: Type.String(),
  key: Type.String({ description: 'shown only in this answer' }),
  name: Type.String(),
  scopes: Type.Array(ApiScope),
  created_at: Type.String(),
});

/** Error answers every authenticated route can give. */
export const errorResponses = {
  '4xx': ErrorView,
  '5xx': ErrorView,
} as const;
