import type { Logger } from '../../shared/logging.ts';
import { CiaoError } from '../../shared/errors.ts';
import type { PairingCredentials } from '../site-data/pairing.ts';
import type { SiteDataService } from '../site-data/service.ts';
import { generateSecret, hashSecret } from '../site-data/secrets.ts';
import type { CertificateRegistry } from '../broker/auth.ts';
import type { IssuedCertificate, TerminalCa } from './terminal-ca.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { judgeCertificate, normalizeSerial, recordCertificate, retireOlderCertificates, revokeCertificates } from './certificates.ts';

/**
 * Terminal identities by certificate: pairing with a certificate signing request, renewal with the current
 * certificate, and the broker's view of which certificates are good. The CA signs; this decides when.
 * Everything it reads and writes goes through the storage port (docs/cluster.md, "The storage port").
 */
export interface FleetIdentityOptions {
  store: SqlStore;
  ca: TerminalCa;
  /** Lifetime of issued client certificates. */
  validityDays: number;
  siteData: SiteDataService;
  logger: Logger;
  /** Certificates follow real time (TLS checks them against it), whatever clock the gateway's day runs on. */
  now?: () => Date;
  /** At most this many certificates per terminal in 24 hours (a renewal loop must not fill the table). */
  maxPerDay?: number;
}

export class FleetIdentity {
  private readonly now: () => Date;

  constructor(private readonly o: FleetIdentityOptions) {
    this.now = o.now ?? (() => new Date());
  }

  get caPem(): string {
    return this.o.ca.certPem;
  }

  /** What the broker asks about a certificate that TLS verified. */
  registry(): CertificateRegistry {
    const store = this.o.store;
    return {
      judge: async (terminalId, serial) => {
        const v = await judgeCertificate(store, terminalId, serial, this.now());
        return v.ok ? { ok: true } : v;
      },
      accepted: async (terminalId, serial) => {
        try {
          // A read first: thousands of terminals reconnecting after a restart must not cost a write each.
          const older = await store.one(
            `SELECT 1 FROM terminal_certificates o JOIN terminal_certificates c ON c.serial = $1
             WHERE o.terminal_id = $2 AND o.revoked_at IS NULL AND o.serial <> c.serial AND o.issued_at <= c.issued_at LIMIT 1`,
            [normalizeSerial(serial), terminalId],
          );
          if (!older) return;
          const n = await retireOlderCertificates(store, terminalId, serial, this.now());
          if (n) this.o.logger.info({ terminalId, serial, retired: n }, 'terminal moved to its renewed certificate; older ones retired');
        } catch (err) {
          this.o.logger.warn({ terminalId, err: (err as Error).message }, 'could not retire older certificates (they expire on their own)');
        }
      },
    };
  }

  /**
   * Pairing with a certificate signing request: the certificate is issued for the code's terminal, then
   * recorded in the same transaction that spends the code. The terminal's older certificates are revoked
   * (a new pairing is a new device, or the same one starting over) and its secret stops working: a terminal
   * with a certificate logs in with it alone.
   */
  async pairWithCsr(code: string, csr: string, from: string): Promise<{ terminalId: string; credentials: PairingCredentials; certificate: IssuedCertificate }> {
    const terminalId = await this.o.siteData.pairingTerminal(code);
    const now = this.now();
    const issued = await this.o.ca.issue(csr, terminalId, { now, validityDays: this.o.validityDays });
    const claimed = await this.o.siteData.claimPairing(code, from, async (tx, tid) => {
      // The code was spent for another terminal meanwhile: impossible unless the table changed under us.
      if (tid !== terminalId) throw new CiaoError('ERR_CIAO_CONFLICT', [{ field: 'code', rule: 'valid-code', message: 'code: changed while pairing; ask for a new one' }]);
      await revokeCertificates(tx, tid, 'paired again', now);
      await recordCertificate(tx, tid, issued, 'pairing', now);
      await tx.run('UPDATE terminals SET secret_hash = $1, secret_rotated_at = $2 WHERE id = $3', [hashSecret(generateSecret()), now.toISOString(), tid]);
      return { kind: 'certificate', certificate: issued.pem };
    });
    this.o.logger.info({ terminalId, serial: issued.serial, notAfter: issued.notAfter }, 'terminal certificate issued at pairing');
    return { ...claimed, certificate: issued };
  }

  /** A new certificate for a terminal that proved, with its current certificate, who it is. */
  async renew(terminalId: string, serial: string, csr: string): Promise<IssuedCertificate> {
    const now = this.now();
    const verdict = await judgeCertificate(this.o.store, terminalId, serial, now);
    if (!verdict.ok) throw new CiaoError('ERR_CIAO_UNAUTHENTICATED', [{ field: 'certificate', rule: verdict.reason, message: `certificate: ${verdict.detail}` }]);
    const t = await this.o.store.one<{ disabled: number }>('SELECT disabled FROM terminals WHERE id = $1', [terminalId]);
    if (!t || t.disabled) throw new CiaoError('ERR_CIAO_UNAUTHENTICATED', [{ field: 'certificate', rule: 'disabled', message: `certificate: terminal ${terminalId} is disabled` }]);
    const counted = await this.o.store.one<{ n: number }>('SELECT COUNT(*) AS n FROM terminal_certificates WHERE terminal_id = $1 AND issued_at > $2', [terminalId, new Date(now.getTime() - 86_400_000).toISOString()]);
    const recent = Number(counted!.n);
    if (recent >= (this.o.maxPerDay ?? 5)) throw new CiaoError('ERR_CIAO_CONFLICT', [{ field: 'csr', rule: 'renewals-per-day', message: `csr: terminal ${terminalId} got ${recent} certificates in the last 24 hours; try again tomorrow` }]);
    const issued = await this.o.ca.issue(csr, terminalId, { now, validityDays: this.o.validityDays });
    await recordCertificate(this.o.store, terminalId, issued, 'renewal', now);
    this.o.logger.info({ terminalId, serial: issued.serial, notAfter: issued.notAfter, previous: serial }, 'terminal certificate renewed');
    return issued;
  }

  /** Whether a connection that logged in with `serial` may stay (revoked, disabled or unknown: no). */
  async stillAllowed(terminalId: string, serial: string): Promise<boolean> {
    return (await judgeCertificate(this.o.store, terminalId, serial, this.now())).ok;
  }
}
