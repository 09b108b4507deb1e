/**
 * Checks of a request body's raw JSON text, for what JSON.parse hides from the schema:
 * - Every number the API takes is an integer (money in minor units, counts, limits), but
 *   JSON.parse reads `1000.0`, `1e3` and `1000.00000000000001` as the integer 1000, so the
 *   schema never sees the fraction the client wrote.
 * - An object that names a key twice (`{"budget_minor":50000,"budget_minor":7}`) parses to its
 *   last value, where a proxy or a client library in front may have read the first: an
 *   ambiguous body about money is refused rather than guessed.
 */

/** A digit then `.`, `e` or `E`: every fraction or exponent in valid JSON has one, so most bodies stop here. */
const maybe_non_integer = /\d[.eE]/;
const maybe_fraction = /[.eE]/;

/** Deeper or longer paths are not named (the message still says what is wrong). */
const param_depth_max = 32;
const param_chars_max = 200;

type Frame = { key: string | null; keys?: Set<string> } | { index: number };

/**
 * Where a valid JSON text writes a number with a fraction or an exponent: `found` is true
 * and `param` the dotted path (`order.amount_minor`, `discount.tiers[0].amount_minor`;
 * undefined at the top level or past the limits). `found` is false for the usual body.
 */
export function nonIntegerLiteral(text: string): { found: boolean; param?: string } {
  if (!maybe_non_integer.test(text)) return { found: false };
  return findInJson(text, null, (literal) => maybe_fraction.test(literal));
}

/**
 * Where a valid JSON text names a key twice in one object: `found` is true and `param` the path
 * of the repeated key (`order.id`; undefined past the limits). Keys are compared as decoded, so
 * `"a"` and `"\u0061"` are the same key, as JSON.parse takes them.
 */
export function duplicateKey(text: string, parsed?: unknown): { found: boolean; param?: string } {
  if (text.indexOf('{') === -1) return { found: false };
  // Fast path: every key and string value in the text is two unescaped quotes, and a repeated key
  // is one pair (with its value) that JSON.parse dropped; when the parsed value accounts for every
  // quote, nothing was dropped.
  if (parsed !== undefined && quotes(text) === 2 * strings(parsed)) return { found: false };
  return findInJson(
    text,
    (raw, object) => {
      const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      object.keys ??= new Set();
      if (object.keys.has(key)) return true;
      object.keys.add(key);
      return false;
    },
    null,
  );
}

type ObjectFrame = Extract<Frame, { key: string | null }>;

/**
 * Walks a valid JSON text token by token, keeping the path to where it is (frames), and stops at
 * the first key (`"raw":`, with its object's frame) or number literal that `flagKey` or
 * `flagNumber` flags: `found` and that place's `param`. Strings are jumped over with indexOf.
 */
function findInJson(
  text: string,
  flagKey: ((raw: string, object: ObjectFrame) => boolean) | null,
  flagNumber: ((literal: string) => boolean) | null,
): { found: boolean; param?: string } {
  const frames: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      const end = stringEnd(text, i);
      const top = frames.at(-1);
      // A string followed by `:` is a key; any other string is a value and is skipped.
      if (top && 'key' in top && nextToken(text, end + 1) === 0x3a /* : */) {
        top.key = text.slice(i, end + 1);
        if (flagKey?.(top.key, top)) return { found: true, ...paramOf(frames) };
      }
      i = end + 1;
    } else if (ch === 0x2d /* - */ || (ch >= 0x30 && ch <= 0x39)) {
      const end = numberEnd(text, i);
      if (flagNumber?.(text.slice(i, end))) return { found: true, ...paramOf(frames) };
      i = end;
    } else {
      if (ch === 0x7b /* { */) frames.push({ key: null });
      else if (ch === 0x5b /* [ */) frames.push({ index: 0 });
      else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) frames.pop();
      else if (ch === 0x2c /* , */) advance(frames.at(-1));
      i += 1;
    }
  }
  return { found: false };
}

/** Unescaped quotes in a JSON text. */
function quotes(text: string): number {
  let n = 0;
  for (let i = text.indexOf('"'); i !== -1; i = text.indexOf('"', i + 1)) if (!escaped(text, i)) n += 1;
  return n;
}

/** Keys and string values in a parsed JSON value; iterative, so any depth JSON.parse took is counted. */
function strings(value: unknown): number {
  let n = 0;
  const todo: unknown[] = [value];
  for (let v = todo.pop(); v !== undefined || todo.length > 0; v = todo.pop()) {
    if (typeof v === 'string') n += 1;
    else if (Array.isArray(v)) for (const item of v) todo.push(item);
    else if (typeof v === 'object' && v !== null) {
      for (const k in v) {
        n += 1;
        todo.push((v as Record<string, unknown>)[k]);
      }
    }
  }
  return n;
}

/** The index of the closing quote of the string opening at `start`; indexOf jumps over long text. */
function stringEnd(text: string, start: number): number {
  let i = text.indexOf('"', start + 1);
  while (i !== -1 && escaped(text, i)) i = text.indexOf('"', i + 1);
  return i === -1 ? text.length : i;
}

/** An odd run of backslashes before `i` escapes it (`\"` does, `\\"` does not). */
function escaped(text: string, i: number): boolean {
  let j = i - 1;
  while (j >= 0 && text.charCodeAt(j) === 0x5c /* \ */) j -= 1;
  return (i - 1 - j) % 2 === 1;
}

/** The index just past the number token starting at `start` (the text is valid JSON: no other letters follow). */
function numberEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && isNumberChar(text.charCodeAt(i))) i += 1;
  return i;
}

/** Digits, `.`, `e`, `E`, `+`, `-`. */
function isNumberChar(ch: number): boolean {
  return (ch >= 0x30 && ch <= 0x39) || ch === 0x2e || ch === 0x65 || ch === 0x45 || ch === 0x2b || ch === 0x2d;
}

/** The first character code at or after `from` that is not JSON whitespace (space, tab, LF, CR). */
function nextToken(text: string, from: number): number {
  let i = from;
  for (let ch = text.charCodeAt(i); ch === 0x20 || ch === 0x09 || ch === 0x0a || ch === 0x0d; ch = text.charCodeAt(i)) {
    i += 1;
  }
  return text.charCodeAt(i);
}

/** A comma moves an array to its next index; in an object the next string is a key again. */
function advance(frame: Frame | undefined): void {
  if (frame === undefined) return;
  if ('index' in frame) frame.index += 1;
  else frame.key = null;
}

function paramOf(frames: Frame[]): { param?: string } {
  if (frames.length === 0 || frames.length > param_depth_max) return {};
  let path = '';
  for (const f of frames) {
    if ('index' in f) path += `[${f.index}]`;
    else if (f.key !== null) {
      if (f.key.length > param_chars_max) return {};
      // The key as written is a JSON string literal; decoding it undoes escapes (`\u0061` is `a`).
      const key = JSON.parse(f.key) as string;
      path += path === '' ? key : `.${key}`;
    }
  }
  return path === '' || path.length > param_chars_max ? {} : { param: path };
}
