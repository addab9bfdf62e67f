import { existsSync } from 'node:fs';
import { connect } from 'node:net';

/**
 * Whether pcscd answers on its socket. nfc-pcsc's constructor blocks its thread while pcscd is absent, so both
 * PC/SC users (the terminal's badge reader and the gateway's desk reader for personalising badges) ask this
 * before they open a context (which runs in a child process, shared/pcsc/isolated-nfc.ts, in case pcscd goes
 * away in between). A stale socket file after a crash does not count.
 */
export const PCSCD_DEFAULT_SOCKET = '/run/pcscd/pcscd.comm';

export function pcscdListening(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  if (!existsSync(socketPath)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const s = connect({ path: socketPath });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
