import { performance } from 'node:perf_hooks';
import { createLogger } from '../shared/logging.ts';
import { PcscReader } from '../terminal/adapters/pcsc-reader.ts';
import { virtualBadge } from '../simulator/vcard/badges.ts';
import { personalisedState } from '../simulator/vcard/ntag424/card-state.ts';
import { acquirePcscdLock, pcscTestSetup, PcscdService, PCSCD_SOCKET } from '../simulator/services/pcscd-service.ts';

/**
 * What reading the SUN message of a secure badge adds to a tap at the terminal, through the real pcscd +
 * vpcd path: from the reader's first APDU to the card (GET UID) to the adapter's `badge` event, for a plain
 * Type 4 badge (GET UID, then a SELECT it refuses) and for a personalised NTAG 424 DNA (GET UID, two
 * SELECTs, two READ BINARY, SUN mirrored by the card). pcscd's card detection comes before both and is the
 * same for both, so it is left out.
 */
export interface ReadTimes {
  reads: number;
  apdusPerRead: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface SunReadReport {
  plainType4: ReadTimes;
  secure: ReadTimes;
  extraP50Ms: number;
}

function summarise(samples: number[], apdus: number): ReadTimes {
  const s = [...samples].sort((a, b) => a - b);
  const pick = (p: number) => Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 100) / 100;
  return { reads: s.length, apdusPerRead: apdus, p50Ms: pick(50), p99Ms: pick(99), maxMs: Math.round(s[s.length - 1]! * 100) / 100 };
}

export async function runSunReadBench(o: { reads: number }): Promise<SunReadReport | { notRun: string }> {
  const { setup, problem } = await pcscTestSetup();
  if (problem) return { notRun: problem };
  const release = await acquirePcscdLock();
  const pcscd = new PcscdService(setup.pcscd ?? 'pcscd');
  const reader = new PcscReader({ socketPath: PCSCD_SOCKET, retrySeconds: 0.3, readTimeoutMs: 2000, acr122Feedback: false }, createLogger('bench-sun', { level: 'silent' }));
  try {
    await pcscd.ensureRunning();
    await reader.start();
    const deadline = Date.now() + 15_000;
    while (reader.readerNames.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (reader.readerNames.length === 0) return { notRun: 'the vpcd reader did not appear in pcscd' };
    const keys = Array.from({ length: 5 }, (_, i) => Buffer.alloc(16, 0x30 + i));
    const measure = async (kind: 'uid-only' | 'ntag424'): Promise<ReadTimes> => {
      const uid = '04B1B2B3B4B5B6';
      const { card } = virtualBadge({ uid, kind, port: setup.port, state: kind === 'ntag424' ? personalisedState({ uid, keys }) : undefined });
      const samples: number[] = [];
      let apdus = 0;
      for (let i = 0; i < o.reads; i++) {
        let first = 0;
        let count = 0;
        const onApdu = () => {
          if (count++ === 0) first = performance.now();
        };
        card.on('apdu', onApdu);
        const got = new Promise<{ sun?: unknown }>((resolve) => reader.once('badge', resolve));
        await card.presentToReader();
        const event = await got;
        samples.push(performance.now() - first);
        card.off('apdu', onApdu);
        if (kind === 'ntag424' && !event.sun) throw new Error('the secure badge was read without its SUN message');
        apdus = count;
        await card.remove();
        // pcscd notices a removal at its next presence poll.
        await new Promise((r) => setTimeout(r, 600));
      }
      return summarise(samples, apdus);
    };
    const plainType4 = await measure('uid-only');
    const secure = await measure('ntag424');
    return { plainType4, secure, extraP50Ms: Math.round((secure.p50Ms - plainType4.p50Ms) * 100) / 100 };
  } finally {
    await reader.stop();
    await pcscd.stop();
    release();
  }
}
