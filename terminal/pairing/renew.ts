import type { Logger } from '../../shared/logging.ts';
import type { Clock } from '../core/ports.ts';
import { checkIssued, makeKeyAndCsr, readIdentity, renewalDue, writeIdentity } from './identity.ts';

/**
 * Renews the terminal's certificate before it expires: when less than `renewWhenLeft` of its lifetime is
 * left, a new key pair is made on the device and its signing request sent to the gateway over HTTPS,
 * authenticated by the current certificate (gateway/fleet/terminal-routes.ts says why HTTPS rather than
 * MQTT). The new key and certificate replace the old ones in one rename, then the link reconnects with them
 * and the gateway retires the old certificate. A failed attempt changes nothing and is tried again later.
 */
export interface RenewerOptions {
  terminalId: string;
  identityFile: string;
  renewWhenLeft: number;
  gateway: { url: string; ca: Buffer };
  clock: Clock;
  logger: Logger;
  /** Called once the new identity is on disk. */
  onRenewed(): void;
  /** How often the certificate's age is looked at. */
  checkIntervalMs?: number;
  /** After a failure, the next attempt comes this much sooner than the regular check. */
  retryMs?: number;
}

export type RenewalOutcome = 'renewed' | 'not-due' | 'failed';

export class CertificateRenewer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<RenewalOutcome> | null = null;
  /** Counters for tests and status. */
  readonly stats = { renewed: 0, failed: 0 };

  constructor(private readonly o: RenewerOptions) {}

  start(): void {
    void this.checkNow();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Looks at the certificate now and renews it when due; one attempt at a time. */
  checkNow(): Promise<RenewalOutcome> {
    this.running ??= this.attempt().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.checkNow(), ms);
    this.timer.unref();
  }

  private async attempt(): Promise<RenewalOutcome> {
    const regular = this.o.checkIntervalMs ?? 6 * 3_600_000;
    try {
      const current = readIdentity(this.o.identityFile);
      if (!renewalDue(current.certificate, this.o.clock.now(), this.o.renewWhenLeft)) {
        this.schedule(regular);
        return 'not-due';
      }
      this.o.logger.info({ notAfter: new Date(current.certificate.validTo).toISOString() }, 'renewing the terminal certificate');
      const { keyPem, csrPem } = await makeKeyAndCsr(this.o.terminalId);
      const { httpsJson, problemDetail } = await import('./https.ts');
      const answer = await httpsJson(new URL('/pair/v1/renew', this.o.gateway.url), {
        method: 'POST', body: { v: 1, csr: csrPem }, ca: this.o.gateway.ca, key: current.keyPem, cert: current.certPem,
      });
      if (answer.status !== 200) throw new Error(`the gateway refused the renewal (${answer.status}): ${problemDetail(answer.text)}`);
      const certPem = (JSON.parse(answer.text) as { certificate: string }).certificate;
      const certificate = checkIssued(keyPem, certPem, this.o.terminalId);
      writeIdentity(this.o.identityFile, keyPem, certPem);
      this.stats.renewed += 1;
      this.o.logger.info({ serial: certificate.serialNumber, notAfter: new Date(certificate.validTo).toISOString() }, 'terminal certificate renewed');
      this.o.onRenewed();
      this.schedule(regular);
      return 'renewed';
    } catch (err) {
      this.stats.failed += 1;
      this.o.logger.warn({ err: (err as Error).message }, 'certificate renewal failed; the current certificate stays and it is tried again later');
      this.schedule(this.o.retryMs ?? 15 * 60_000);
      return 'failed';
    }
  }
}
