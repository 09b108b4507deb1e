/**
 * Strings JSON can carry but no store keeps as sent: a lone surrogate (`"\ud800"`), which SQLite
 * and PostgreSQL both write as replacement characters, so two different ids are stored as one and
 * a stored id no longer equals the one the rules were checked against (verify then finds an order
 * with two discounts, or a merchant outside the scope); and NUL (`"\u0000"`), which PostgreSQL
 * refuses, failing the whole batch the command shared with other callers. Both can only be
 * written in a body as `\u` escapes (the body is decoded as UTF-8, and JSON refuses a raw
 * control character), so most bodies are answered by one `includes`.
 */

/** Deeper or longer paths are not named (the message still says what is wrong). */
const param_depth_max = 32;

/** In a `u` regex a surrogate range matches only a surrogate that is not half of a pair. */
const lone_surrogate = /[\uD800-\uDFFF]/u;

export function storable(s: string): boolean {
  return !s.includes('\u0000') && !lone_surrogate.test(s);
}

function joined(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** The first place in `value` (a key or a string) that is not storable, as a dotted path; null when none. */
function findUnstorable(value: unknown, path: string, depth: number): { param: string | undefined } | null {
  const at = () => ({ param: path === '' || depth > param_depth_max ? undefined : path });
  if (typeof value === 'string') return storable(value) ? null : at();
  if (typeof value !== 'object' || value === null) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorable(value[i], joined(path, i), depth + 1);
      if (found) return found;
    }
    return null;
  }
  for (const [key, inner] of Object.entries(value)) {
    if (!storable(key)) return at();
    const found = findUnstorable(inner, joined(path, key), depth + 1);
    if (found) return found;
  }
  return null;
}

/** Where a parsed body holds a string no store keeps as sent (see above); null for the usual body. */
export function unstorableString(text: string, value: unknown): { param: string | undefined } | null {
  if (!text.includes('\\u')) return null;
  return findUnstorable(value, '', 0);
}

/**
 * The first path or query parameter that is not storable (a `%00` in the URL; a lone surrogate cannot
 * be percent-encoded as UTF-8), by name; null for the usual URL, which has no `%00` at all.
 */
export function unstorableParam(url: string, ...groups: unknown[]): string | null {
  if (!url.includes('%00')) return null;
  for (const group of groups) {
    if (typeof group !== 'object' || group === null) continue;
    for (const [name, value] of Object.entries(group)) {
      const values: unknown[] = Array.isArray(value) ? value : [value];
      if (values.some((v) => typeof v === 'string' && !storable(v))) return name;
    }
  }
  return null;
}
