import type { Logger } from '../../shared/logging.ts';
import { parseTerminalId } from '../../shared/mqtt/topics.ts';
import { DECOY_HASH, verifySecret } from '../site-data/secrets.ts';

/**
 * Terminal authentication, independent of the broker library. Two ways in:
 *
 * - A client certificate (MQTT over TLS): verified against the gateway's terminal CA by TLS, its subject CN
 *   must equal the client id, and its serial must be one the CA issued to that terminal and not revoked.
 *   No secret is involved, so failed password guesses against the id (which lock the id out for a while)
 *   never stop a terminal that logs in with its certificate, and certificate logins are not rate-limited
 *   (nothing can be guessed: a wrong certificate never gets past TLS).
 * - The secret: client id = username = terminal id, password = the terminal's secret (scrypt hash,
 *   constant-time compare), and repeated failures from one terminal id or one address locked out for a while.
 *
 * Disabled terminals are refused either way. Secrets are never logged.
 */
export type AuthOutcome = { ok: true; via: 'certificate' | 'secret'; serial?: string } | { ok: false; reason: AuthRefusal; returnCode: 2 | 4 | 5 };
export type AuthRefusal =
  | 'empty-client-id' | 'bad-client-id' | 'username-mismatch' | 'unknown-terminal' | 'bad-secret' | 'disabled' | 'rate-limited' | 'no-password'
  | CertificateRefusal;
export type CertificateRefusal = 'certificate-untrusted' | 'certificate-expired' | 'certificate-id-mismatch' | 'certificate-unknown' | 'certificate-revoked';

/** What TLS saw of the client's certificate, when it sent one. */
export interface PresentedCertificate {
  /** TLS verified the chain against the terminal CA (and its dates). */
  verified: boolean;
  /** OpenSSL's reason when it did not (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ...). */
  error?: string;
  /** The subject's CN values. */
  commonNames: string[];
  serial: string;
}

/** The issued certificates the gateway keeps (gateway/fleet/certificates.ts, read through the storage port). */
export interface CertificateRegistry {
  judge(terminalId: string, serial: string): Promise<{ ok: true } | { ok: false; reason: Exclude<CertificateRefusal, 'certificate-untrusted'>; detail: string }>;
  /** A terminal logged in with this certificate (awaited before the login is answered; never rejects). */
  accepted?(terminalId: string, serial: string): Promise<void>;
}

export interface AuthOptions {
  /** Failures of one terminal id within the window before it is locked out. */
  maxFailures: number;
  /** Failures from one address (many terminals may share one NAT address, so higher). */
  maxFailuresPerAddress: number;
  windowMs: number;
  lockoutMs: number;
}

export interface CredentialStore {
  /** Read through the storage port (gateway/site-data/terminals.ts `terminalCredentials`). */
  credentials(terminalId: string): Promise<{ secretHash: string; disabled: boolean } | undefined>;
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

  constructor(
    private readonly store: CredentialStore,
    private readonly logger: Logger,
    opts: AuthOptions,
    private readonly onRefused?: (reason: AuthRefusal) => void,
    private readonly certificates?: CertificateRegistry,
  ) {
    this.byId = new FailureLimiter(opts);
    this.byAddress = new FailureLimiter({ ...opts, maxFailures: opts.maxFailuresPerAddress });
  }

  async authenticate(clientId: string, username: string | undefined, password: Buffer | undefined, remote: string | undefined, certificate?: PresentedCertificate): Promise<AuthOutcome> {
    const now = Date.now();
    if (certificate && clientId && parseTerminalId(clientId).ok) {
      // The certificate way never touches (nor feeds) the password rate limits.
      const outcome = await this.decideByCertificate(clientId, username, certificate);
      if (!outcome.ok) {
        this.onRefused?.(outcome.reason);
        this.logger.warn({ terminalId: clientId, remote, reason: outcome.reason, serial: certificate.serial, detail: 'detail' in outcome ? outcome.detail : undefined }, 'terminal connection refused');
      } else {
        await this.certificates?.accepted?.(clientId, certificate.serial);
      }
      return outcome;
    }
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

  private async decideByCertificate(clientId: string, username: string | undefined, cert: PresentedCertificate): Promise<AuthOutcome & { detail?: string }> {
    if (!cert.verified) {
      const expired = cert.error === 'CERT_HAS_EXPIRED' || cert.error === 'CERT_NOT_YET_VALID';
      return { ok: false, reason: expired ? 'certificate-expired' : 'certificate-untrusted', returnCode: 5, detail: cert.error };
    }
    if (cert.commonNames.length !== 1 || cert.commonNames[0] !== clientId) {
      return { ok: false, reason: 'certificate-id-mismatch', returnCode: 5, detail: `certificate is for ${cert.commonNames.join(', ') || 'no CN'}` };
    }
    if (username !== undefined && username !== '' && username !== clientId) return { ok: false, reason: 'username-mismatch', returnCode: 4 };
    if (!this.certificates) return { ok: false, reason: 'certificate-unknown', returnCode: 5, detail: 'this gateway issues no certificates' };
    const verdict = await this.certificates.judge(clientId, cert.serial);
    if (!verdict.ok) return { ok: false, reason: verdict.reason, returnCode: 5, detail: verdict.detail };
    const creds = await this.store.credentials(clientId);
    if (!creds) return { ok: false, reason: 'unknown-terminal', returnCode: 5 };
    if (creds.disabled) return { ok: false, reason: 'disabled', returnCode: 5 };
    return { ok: true, via: 'certificate', serial: cert.serial };
  }

  private async decide(clientId: string, username: string | undefined, password: Buffer | undefined, remote: string | undefined, now: number): Promise<AuthOutcome> {
    if (!clientId) return { ok: false, reason: 'empty-client-id', returnCode: 2 };
    if (!parseTerminalId(clientId).ok) return { ok: false, reason: 'bad-client-id', returnCode: 2 };
    if (this.byId.locked(clientId, now) || (remote && this.byAddress.locked(remote, now))) {
      return { ok: false, reason: 'rate-limited', returnCode: 5 };
    }
    if (username !== clientId) return { ok: false, reason: 'username-mismatch', returnCode: 4 };
    if (!password || password.length === 0) return { ok: false, reason: 'no-password', returnCode: 4 };
    const creds = await this.store.credentials(clientId);
    // Unknown terminals cost the same scrypt as known ones, so timing does not tell which ids exist.
    const valid = await verifySecret(password, creds?.secretHash ?? DECOY_HASH);
    if (!creds) return { ok: false, reason: 'unknown-terminal', returnCode: 4 };
    if (!valid) return { ok: false, reason: 'bad-secret', returnCode: 4 };
    if (creds.disabled) return { ok: false, reason: 'disabled', returnCode: 5 };
    return { ok: true, via: 'secret' };
  }
}
