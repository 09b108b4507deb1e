import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

function base32(value: bigint, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) {
    out = alphabet[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

export type IdPrefix = 'cmp' | 'cpn' | 'rdm' | 'inc' | 'env' | 'key' | 'alr' | 'whk' | 'evt' | 'req';

/**
 * Time-ordered ids (like ULID): 50 bits of milliseconds then 80 random bits, so
 * sorting by id sorts by creation and lists can page on the id alone.
 * Within one millisecond a process counts up, keeping its own ids ordered.
 */
export class IdGenerator {
  private last_ms = 0;
  private seq = 0n;
  private pool = Buffer.alloc(0);
  private offset = 0;

  next(prefix: IdPrefix, now_ms: number): string {
    if (now_ms > this.last_ms) {
      this.last_ms = now_ms;
      this.seq = this.random80() & ~((1n << 20n) - 1n);
    } else {
      this.seq += 1n;
    }
    return `${prefix}_${base32(BigInt(this.last_ms), 10)}${base32(this.seq, 16)}`;
  }

  private random80(): bigint {
    if (this.offset + 10 > this.pool.length) {
      this.pool = randomBytes(4096);
      this.offset = 0;
    }
    const hex = this.pool.toString('hex', this.offset, this.offset + 10);
    this.offset += 10;
    return BigInt(`0x${hex}`);
  }
}
