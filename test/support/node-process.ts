import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/vouchsafe.js', import.meta.url));

export interface NodeProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  kill: (signal?: NodeJS.Signals) => Promise<void>;
}

/**
 * Starts `vouchsafe serve` as a real process on a free port and waits until it listens. The
 * timeout only bounds a hang: a loaded machine can take tens of seconds to start several at once.
 */
export async function startNode(env: Record<string, string>, timeout_ms = 180_000): Promise<NodeProcess> {
  const child = spawn(process.execPath, [bin, 'serve'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start:\n${out}`)), timeout_ms);
    const check = () => {
      const m = /serving on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code}:\n${out}`));
    });
  });
  return {
    url,
    child,
    output: () => out,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}

/**
 * Runs the CLI to completion and returns its exit code and output. `timeout_ms`: killed (SIGTERM)
 * past it, for a command that should have exited at once but might serve forever.
 */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  opts: { timeout_ms?: number } = {},
): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.timeout_ms !== undefined ? { timeout: opts.timeout_ms } : {}),
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, out };
}

/**
 * A key made on the server with `vouchsafe keys create` (the node's store, from `env`), as the
 * README's quick start makes its approver: a key with no creator. Maker-checker follows key lineage,
 * so a key the bootstrap admin key minted over HTTP may not approve what that admin key made.
 */
export async function serverKey(env: Record<string, string>, name: string, scopes: string[]): Promise<string> {
  const made = await runCli(['keys', 'create', '--name', name, '--scope', ...scopes], env);
  if (made.code !== 0) throw new Error(`keys create exited with ${made.code}:\n${made.out}`);
  const line = made.out.trim().split('\n').at(-1) ?? '';
  return String((JSON.parse(line) as { key: string }).key);
}

/** A tiny JSON client for a running node. */
export function client(url: string, key: string, opts: { retry_unavailable?: boolean } = {}) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const send = () =>
      fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    let res = await send();
    // As a checkout does (API.md: 503 says retry after Retry-After; nothing was done): a loaded
    // machine can keep a batch waiting past the lock timeout. Bounded, so a real outage still fails.
    for (let tries = 1; opts.retry_unavailable && res.status === 503 && tries < 30; tries++) {
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, 200 * tries));
      res = await send();
    }
    const text = await res.text();
    return {
      status: res.status,
      body: (text ? JSON.parse(text) : null) as Record<string, unknown> & { error?: { code: string } },
    };
  };
}

/** A campaign body that lints clean (API wire shape). */
export function wireCampaign(over: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Date.now();
  return {
    name: 'e2e',
    currency: 'CNY',
    discount: { type: 'fixed', amount_minor: 100 },
    min_spend_minor: 1000,
    product_kinds: ['merchandise'],
    audience: { type: 'public' },
    starts_at: new Date(now - 3_600_000).toISOString(),
    ends_at: new Date(now + 7 * 86_400_000).toISOString(),
    budget_minor: 1_000_000,
    max_redemptions: null,
    per_user_limit: 100,
    code_mode: 'shared_code',
    code: 'E2E',
    // Load tests burst on purpose; the detector would pause them mid-test (detection has its own tests).
    auto_pause: false,
    ...over,
  };
}

/** Creates, submits and (when needed) approves a campaign with a second key. */
export async function launch(
  admin: ReturnType<typeof client>,
  approver: ReturnType<typeof client>,
  body: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const created = await admin('POST', '/v1/campaigns', body);
  if (created.status !== 201) throw new Error(`create: ${JSON.stringify(created.body)}`);
  const id = String(created.body.id);
  const submitted = await admin('POST', `/v1/campaigns/${id}/submit`, {});
  if (submitted.body.status === 'active') return submitted.body;
  const approved = await approver('POST', `/v1/campaigns/${id}/approve`, {});
  if (approved.body.status !== 'active') throw new Error(`approve: ${JSON.stringify(approved.body)}`);
  return approved.body;
}
