/**
 * Characters as API.md counts them ("1-128 characters"): Unicode code points, so an emoji or a
 * supplementary CJK ideograph is one, not the two UTF-16 units JavaScript's `length` counts.
 * A lone surrogate counts as one (the edge refuses those as unstorable anyway).
 */
export function charCount(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const hi = text.charCodeAt(i);
    if (hi >= 0xd800 && hi <= 0xdbff) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        n -= 1;
        i += 1;
      }
    }
  }
  return n;
}

/** Whether `text` has at most `max` characters (code points); most strings are decided by their length alone. */
export function atMostChars(text: string, max: number): boolean {
  return text.length <= max || (text.length <= 2 * max && charCount(text) <= max);
}
