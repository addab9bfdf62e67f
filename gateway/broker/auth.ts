import type { Logger } from '../../shared/logging.ts';
import { parseTerminalId } from '../../shared/mqtt/topics.ts';
import { DECOY_HASH, verifySecret } from '../site-data/secrets.ts';

/**
 * Terminal authentication, independent of the broker library: client id = username = terminal id,
 * password = the terminal's secret (scrypt hash, constant-time compare), disabled terminals refused, and
 * repeated failures from one terminal id or one address locked out for a while. Secrets are never logged.
 */
export type AuthOutcome = { ok: true } | { ok: false; reason: AuthRefusal; returnCode: 2 | 4 | 5 };
export type AuthRefusal = 'empty-client-id' | 'bad-client-id' | 'username-mismatch' | 'unknown-terminal' | 'bad-secret' | 'disabled' | 'rate-limited' | 'no-password';

export interface AuthOptions {
  /** Failures of one terminal id within the window before it is locked out. */
  maxFailures: number;
  /** Failures from one address (many terminals may share one NAT address, so higher). */
  maxFailuresPerAddress: number;
  windowMs: number;
  lockoutMs: number;
}

export interface CredentialStore {
  credentials(terminalId: string): { secretHash: string; disabled: boolean } | undefined;
}

class FailureLimiter {
  private readonly failures = new Map<string, number[]>();
  constructor(private readonly o: { maxFailures: number; windowMs: number; lockoutMs: number }) {}

  locked(key: string, now: number): boolean {
    const list = this.failures.get(key);
    if (!list) return false;
    const recent = list.filter((t) => now - t < Math.max(this.o.windowMs, this.o.lockoutMs));
    if (recent.length === 0) {
      this.failures.delete(key);
      return false;
    }
    this.failures.set(key, recent);
    const inWindow = recent.filter((t) => now - t < this.o.windowMs).length;
    return inWindow >= this.o.maxFailures || (recent.length >= this.o.maxFailures && now - recent[recent.length - 1]! < this.o.lockoutMs);
  }

  fail(key: string, now: number): void {
    const list = this.failures.get(key) ?? [];
    list.push(now);
    if (list.length > this.o.maxFailures * 2) list.splice(0, list.length - this.o.maxFailures * 2);
    this.failures.set(key, list);
    // Bound memory under a flood of random ids.
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
  }

  clear(key: string): void {
    this.failures.delete(key);
  }
}

export class TerminalAuthenticator {
  private readonly byId: FailureLimiter;
  private readonly byAddress: FailureLimiter;

  constructor(private readonly store: CredentialStore, private readonly logger: Logger, opts: AuthOptions, private readonly onRefused?: (reason: AuthRefusal) => void) {
    this.byId = new FailureLimiter(opts);
    this.byAddress = new FailureLimiter({ ...opts, maxFailures: opts.maxFailuresPerAddress });
  }

  async authenticate(clientId: string, username: string | undefined, password: Buffer | undefined, remote: string | undefined): Promise<AuthOutcome> {
    const now = Date.now();
    const outcome = await this.decide(clientId, username, password, remote, now);
    if (!outcome.ok) {
      if (outcome.reason !== 'rate-limited') {
        this.byId.fail(clientId, now);
        if (remote) this.byAddress.fail(remote, now);
      }
      this.onRefused?.(outcome.reason);
      // The terminal id is not a secret; the password is never passed to the logger.
      this.logger.warn({ terminalId: clientId.slice(0, 64), remote, reason: outcome.reason }, 'terminal connection refused');
    } else {
      this.byId.clear(clientId);
    }
    return outcome;
  }

  private async decide(clientId: string, username: string | undefined, password: Buffer | undefined, remote: string | undefined, now: number): Promise<AuthOutcome> {
    if (!clientId) return { ok: false, reason: 'empty-client-id', returnCode: 2 };
    if (!parseTerminalId(clientId).ok) return { ok: false, reason: 'bad-client-id', returnCode: 2 };
    if (this.byId.locked(clientId, now) || (remote && this.byAddress.locked(remote, now))) {
      return { ok: false, reason: 'rate-limited', returnCode: 5 };
    }
    if (username !== clientId) return { ok: false, reason: 'username-mismatch', returnCode: 4 };
    if (!password || password.length === 0) return { ok: false, reason: 'no-password', returnCode: 4 };
    const creds = this.store.credentials(clientId);
    // Unknown terminals cost the same scrypt as known ones, so timing does not tell which ids exist.
    const valid = await verifySecret(password, creds?.secretHash ?? DECOY_HASH);
    if (!creds) return { ok: false, reason: 'unknown-terminal', returnCode: 4 };
    if (!valid) return { ok: false, reason: 'bad-secret', returnCode: 4 };
    if (creds.disabled) return { ok: false, reason: 'disabled', returnCode: 5 };
    return { ok: true };
  }
}
