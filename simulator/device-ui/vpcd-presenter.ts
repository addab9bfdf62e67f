import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VirtualCard, VPCD_DEFAULT_PORT } from '../vcard/virtual-card.ts';

/**
 * Presents badges through the real PC/SC stack: each press puts a virtual card with that UID on the vsmartcard
 * `vpcd` reader and takes it away a moment later, like a hand tapping a badge. vpcd holds one card at a
 * time, and pcscd only notices a removal at its next presence poll, so taps are played one after the
 * other with a pause between them instead of overlapping.
 */
export interface VpcdPresenterOptions {
  host?: string;
  /** vpcd's TCP port; found in /etc/reader.conf.d when absent. */
  port?: number;
  /** How long the card stays on the reader. */
  holdMs?: number;
  /** Pause after a removal before the next card goes on. */
  gapMs?: number;
}

/** vpcd's TCP port: the CHANNELID of its entry in reader.conf.d, or the driver's default. */
function findVpcdPort(dirs = ['/etc/reader.conf.d', '/usr/local/etc/reader.conf.d']): number {
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)) {
      let text: string;
      try {
        text = readFileSync(join(dir, file), 'utf8');
      } catch {
        continue;
      }
      if (!/libifdvpcd/.test(text)) continue;
      // CHANNELID is the TCP port, often written in hex (0x8C7B = 35963).
      const port = Number(/^\s*CHANNELID\s+(\S+)/m.exec(text)?.[1]);
      if (Number.isInteger(port) && port > 0 && port < 65536) return port;
    }
  }
  return VPCD_DEFAULT_PORT;
}

export class VpcdBadgePresenter {
  private queue: Promise<void> = Promise.resolve();
  private current: VirtualCard | null = null;
  private closed = false;
  private readonly port: number;
  private pendingCount = 0;

  constructor(private readonly o: VpcdPresenterOptions = {}) {
    this.port = o.port ?? findVpcdPort();
  }

  /** Taps still waiting their turn, the one on the reader included. */
  get pending(): number {
    return this.pendingCount;
  }

  /**
   * Queues one tap of the badge. Resolves once the card was taken away again; rejects when vpcd cannot be
   * reached (pcscd not running or the vpcd driver not configured).
   */
  present(uid: string): Promise<void> {
    this.pendingCount += 1;
    const run = this.queue.then(async () => {
      try {
        if (this.closed) return;
        const card = new VirtualCard({ uid, host: this.o.host, port: this.port });
        try {
          await card.presentToReader();
        } catch (err) {
          throw new Error(`cannot reach the vpcd reader on ${this.o.host ?? '127.0.0.1'}:${this.port} (is pcscd running with vsmartcard-vpcd?): ${(err as Error).message}`);
        }
        this.current = card;
        await sleep(this.o.holdMs ?? 700);
        await card.remove();
        this.current = null;
        await sleep(this.o.gapMs ?? 400);
      } finally {
        this.pendingCount -= 1;
      }
    });
    // One failed tap must not block the ones after it.
    this.queue = run.catch(() => {});
    return run;
  }

  /** Takes any card off the reader and drops queued taps. */
  async close(): Promise<void> {
    this.closed = true;
    await this.current?.remove();
    this.current = null;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
