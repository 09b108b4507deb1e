import { limits } from '../config/limits.ts';
import { Rejection } from '../domain/errors.ts';
import { canonicalProductKind } from '../domain/product-kinds.ts';
import { atMostChars } from '../domain/text.ts';

/**
 * A product kind from the wire in its one spelling (canonicalProductKind), so what is stored and
 * answered is canonical. Nothing left (`' - '`), or longer than a name may be: 400 naming the field.
 */
export function productKindOf(kind: string, param: string): string {
  const canonical = canonicalProductKind(kind);
  if (canonical === '') {
    throw new Rejection(
      'invalid_request',
      `${param}: a product kind needs more than spaces, dashes, dots and underscores`,
      param,
    );
  }
  if (!atMostChars(canonical, limits.name_chars_max)) {
    throw new Rejection(
      'invalid_request',
      `${param}: a product kind has at most ${limits.name_chars_max} characters`,
      param,
    );
  }
  return canonical;
}

/**
 * A list of product kinds, each canonical. Two entries that are one kind (`GIFT_CARD`, `gift-card`) are
 * refused, as the schema refuses two equal ones, with the list as `param`: keeping either would hide that
 * the list said one thing twice.
 */
export function productKindsOf(kinds: readonly string[], param: string): string[] {
  const index_of = new Map<string, number>();
  return kinds.map((kind, i) => {
    const canonical = productKindOf(kind, `${param}[${i}]`);
    const first = index_of.get(canonical);
    if (first !== undefined) {
      throw new Rejection(
        'invalid_request',
        `${param}: ${param}[${first}] and ${param}[${i}] are the same product kind, ${canonical}`,
        param,
      );
    }
    index_of.set(canonical, i);
    return canonical;
  });
}
