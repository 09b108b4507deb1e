import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { limits } from '../config/limits.ts';
import { guardedLookup, hostOf, isPrivateAddress } from './ssrf.ts';

export interface PostResult {
  ok: boolean;
  status_code: number | null;
  error: string | null;
}

export interface PostOptions {
  timeout_ms: number;
  allow_private: boolean;
}

function failed(error: string, status_code: number | null = null): PostResult {
  return { ok: false, status_code, error: error.slice(0, limits.webhook_error_chars_max) };
}

/** Reads at most response_bytes_max of the answer and drops the rest: a receiver cannot hold us up with a big body. */
function drain(res: IncomingMessage, done: () => void): void {
  let bytes = 0;
  res.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > limits.webhook_response_bytes_max) {
      res.destroy();
      done();
    }
  });
  res.on('end', done);
  res.on('error', done);
  res.on('close', done);
}

/**
 * POSTs one payload; 2xx is success. Redirects are not followed (one could lead to a
 * private address); every address is checked again at connect time (see ssrf.ts).
 */
export function postWebhook(
  url: URL,
  payload: string,
  headers: Record<string, string>,
  opts: PostOptions,
): Promise<PostResult> {
  const host = hostOf(url);
  if (!opts.allow_private && isIP(host) !== 0 && isPrivateAddress(host)) {
    return Promise.resolve(failed('refused: loopback or private address'));
  }
  const body = Buffer.from(payload, 'utf8');
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<PostResult>((resolve) => {
    let settled = false;
    const settle = (r: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': String(body.length),
        'user-agent': 'Vouchsafe-Webhooks/1',
        ...headers,
      },
      lookup: guardedLookup(opts.allow_private),
    });
    const timer = setTimeout(() => {
      req.destroy();
      settle(failed(`timeout after ${opts.timeout_ms} ms`));
    }, opts.timeout_ms);
    req.on('response', (res) => {
      const code = res.statusCode ?? 0;
      drain(res, () => {
        settle(code >= 200 && code < 300 ? { ok: true, status_code: code, error: null } : failed(`HTTP ${code}`, code));
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      settle(failed(err.code ? `${err.code}: ${err.message}` : err.message)),
    );
    req.end(body);
  });
}
