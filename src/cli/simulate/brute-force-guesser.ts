import { codeAlphabet, codeLength, codeRandomChars } from '../../domain/codes.ts';

/** What attackers send: random code-shaped strings, neighbours of a code they hold, and short numbers. */
export class Guesser {
  constructor(private readonly rand: () => number) {}

  symbol(): string {
    return codeAlphabet.charAt(Math.floor(this.rand() * codeAlphabet.length));
  }

  /** A well-formed code with a random check part. */
  random(): string {
    let s = '';
    for (let i = 0; i < codeLength; i++) s += this.symbol();
    return s;
  }

  /** One symbol of the random part changed, check part kept: how sequential or short codes are walked. */
  neighbour(code: string): string {
    const at = Math.floor(this.rand() * codeRandomChars);
    let c = this.symbol();
    while (c === code.charAt(at)) c = this.symbol();
    return code.slice(0, at) + c + code.slice(at + 1);
  }

  /** 70% random codes, 20% neighbours of `own`, 10% six-digit numbers (looked up as shared codes). */
  next(own: string): string {
    const u = this.rand();
    if (u < 0.7) return this.random();
    if (u < 0.9) return this.neighbour(own);
    return String(Math.floor(this.rand() * 1_000_000)).padStart(6, '0');
  }
}
