import { readFileSync } from 'node:fs';
import { InvalidInputError } from '../problems.ts';
import { parseSignedManifest } from './manifest.ts';

/**
 * `ciao release upload` and `ciao release rollout`: the admin API's fleet routes from a build machine or a
 * script (the console's Releases screen does the same by hand). An administrator's token is needed.
 */
export interface GatewayApi {
  /** The gateway's HTTP address, e.g. http://127.0.0.1:8080 (or the reverse proxy in front of it). */
  url: string;
  token: string;
}

async function call(api: GatewayApi, path: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await fetch(new URL(`/api/v1${path}`, api.url), {
    method: 'POST',
    headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: reported as it came below
  }
  if (!r.ok) throw new InvalidInputError((json.problems as never) ?? [{ field: '(gateway)', rule: `http-${r.status}`, message: `the gateway answered ${r.status}: ${text.slice(0, 300)}` }]);
  return json;
}

export async function uploadRelease(api: GatewayApi, bundle: string, signature: string): Promise<Record<string, unknown>> {
  const signed = parseSignedManifest(JSON.parse(readFileSync(signature, 'utf8')));
  return call(api, '/releases', { signed, bundle: readFileSync(bundle).toString('base64') });
}

export async function rollOut(api: GatewayApi, version: string, who: { terminals: string[] } | { all: true }): Promise<Record<string, unknown>> {
  return call(api, `/releases/${encodeURIComponent(version)}/rollout`, who);
}
