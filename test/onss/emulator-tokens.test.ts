import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SignJWT, importPKCS8 } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, TokenService } from '../../simulator/emulator/auth.ts';
import { EmulatorStore } from '../../simulator/emulator/store.ts';
import { rsaKeyPair, tempDir } from './helpers.ts';

/**
 * The emulator's access tokens over a long run: a client that logs in again and again must not make the
 * emulator keep every token it ever granted. The clock tokens expire by is moved by hand (the assertion's
 * own `exp` is still checked against the real time).
 */
const AUDIENCE = 'http://emulator.test/REST/oauth/v5/token';
const TTL_SECONDS = 600;

const tmp = tempDir();
let store: EmulatorStore;
let keys: { publicKeyPem: string; privateKeyPem: string };
let clock = Date.now();
let service: TokenService;

async function grant(): Promise<string> {
  const key = await importPKCS8(keys.privateKeyPem, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setIssuer('gw').setSubject('gw').setAudience(AUDIENCE)
    .setExpirationTime(now + 60).setJti(randomUUID()).sign(key);
  const form = { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
  return (await service.grant(form, [])).access_token;
}

function refusal(token: string): AuthError {
  try {
    service.authenticate(`Bearer ${token}`);
  } catch (e) {
    if (e instanceof AuthError) return e;
    throw e;
  }
  throw new Error('the token was accepted');
}

beforeAll(async () => {
  keys = await rsaKeyPair();
  store = new EmulatorStore(join(tmp.dir, 'emu.sqlite'));
  service = new TokenService(store, { tokenTtlSeconds: TTL_SECONDS, maxAssertionLifetimeSeconds: 300, audiences: () => [AUDIENCE], now: () => clock });
  service.register({ clientId: 'gw', publicKeyPem: keys.publicKeyPem });
});
afterAll(() => {
  store.close();
  tmp.cleanup();
});

describe('emulator access tokens', () => {
  it('forgets expired tokens at the next grant, and still refuses them as invalid access tokens', async () => {
    const first = await grant();
    const second = await grant();
    expect(service.authenticate(`Bearer ${first}`)).toBe('gw');
    expect(service.heldTokens()).toBe(2);

    clock += TTL_SECONDS * 1000;
    const third = await grant();
    expect(service.heldTokens()).toBe(1);
    for (const old of [first, second]) {
      const e = refusal(old);
      expect(e.status).toBe(401);
      expect(e.problemType).toBe('urn:problem-type:belgif:invalidAccessToken');
    }
    expect(service.authenticate(`Bearer ${third}`)).toBe('gw');
  });

  it('holds no more tokens than one lifetime grants, however many logins a long run makes', async () => {
    // A login every 5 minutes for 10 hours: two tokens live at a time, 120 granted.
    for (let i = 0; i < 120; i++) {
      await grant();
      clock += 300_000;
    }
    expect(service.heldTokens()).toBeLessThanOrEqual(2);
  });

  it('refuses a token expired by the expire-tokens fault, and forgets it at the next grant', async () => {
    const token = await grant();
    service.expireAll();
    expect(refusal(token).problemType).toBe('urn:problem-type:belgif:invalidAccessToken');
    const fresh = await grant();
    expect(service.heldTokens()).toBe(1);
    expect(service.authenticate(`Bearer ${fresh}`)).toBe('gw');
  });
});
