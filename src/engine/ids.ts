import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

function base32(value: number, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) {
    out = alphabet.charAt(value % 32) + out;
    value = Math.floor(value / 32);
  }
  return out;
}

/** The millisecond an id (IdGenerator's form) was stamped with. */
export function idTimeMs(id: string): number {
  const stamp = id.slice(id.indexOf('_') + 1, id.indexOf('_') + 11);
  let ms = 0;
  for (const ch of stamp) ms = ms * 32 + alphabet.indexOf(ch);
  return ms;
}

/** The least string above every id of `prefix` stamped before `ms`, and below those stamped at or after it. */
export function idFloor(prefix: IdPrefix, ms: number): string {
  return `${prefix}_${base32(Math.max(0, ms), 10)}`;
}

export type IdPrefix = 'cmp' | 'cpn' | 'rdm' | 'inc' | 'env' | 'key' | 'alr' | 'whk' | 'evt' | 'req';

/**
 * Time-ordered ids (like ULID): 10 chars of milliseconds, 10 random chars drawn
 * once per millisecond (50 bits), then a 6-char counter, so sorting by id sorts by
 * creation, lists page on the id alone, and a process's own ids never collide.
 */
export class IdGenerator {
  private last_ms = -1;
  private stem = '';
  private seq = 0;
  private pool = Buffer.alloc(0);
  private offset = 0;

  next(prefix: IdPrefix, now_ms: number): string {
    if (now_ms > this.last_ms || this.seq >= 32 ** 6 - 1) {
      this.last_ms = Math.max(now_ms, this.last_ms);
      this.stem = base32(this.last_ms, 10) + this.randomChars(10);
      this.seq = 0;
    } else {
      this.seq += 1;
    }
    return `${prefix}_${this.stem}${base32(this.seq, 6)}`;
  }

  private randomChars(n: number): string {
    if (this.offset + n > this.pool.length) {
      this.pool = randomBytes(4096);
      this.offset = 0;
    }
    let out = '';
    for (let i = 0; i < n; i++) out += alphabet.charAt((this.pool[this.offset + i] ?? 0) & 31);
    this.offset += n;
    return out;
  }
}
