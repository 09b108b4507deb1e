import type { IncomingMessage } from 'node:http';
import { IdGenerator } from '../engine/ids.ts';

const clientId = /^[A-Za-z0-9._:-]{1,128}$/;
const ids = new IdGenerator();

/** Keeps a caller's x-request-id when it is short and plain (no log injection); otherwise makes one. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  if (typeof given === 'string' && clientId.test(given)) return given;
  return ids.next('req', Date.now());
}
