import createClient, { type Client, type ClientOptions, mergeHeaders } from 'openapi-fetch';
import type { components, paths } from './schema.d.ts';

export type { components, paths };

/** A typed Vouchsafe client: every path, parameter, body and answer comes from client/openapi.json. */
export type VouchsafeClient = Client<paths>;

/** The error body every endpoint answers with on 4xx and 5xx (API.md). */
export interface VouchsafeError {
  error: { code: string; message: string; param?: string };
}

/**
 * A client for one server and one API key (sent as `Authorization: Bearer`).
 * `options` passes through to openapi-fetch (a custom fetch, extra headers).
 */
export function createVouchsafeClient(
  baseUrl: string,
  apiKey: string,
  options: Omit<ClientOptions, 'baseUrl'> = {},
): VouchsafeClient {
  return createClient<paths>({
    ...options,
    baseUrl,
    headers: mergeHeaders(options.headers, { authorization: `Bearer ${apiKey}` }),
  });
}
