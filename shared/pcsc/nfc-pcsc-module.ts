import type { EventEmitter } from 'node:events';

/**
 * Loads the optional dependency nfc-pcsc, in this process, only to say at once, with the reason, when it or
 * libpcsclite is missing: the PC/SC context itself always runs in a child process (isolated-nfc.ts), since
 * its constructor can block its thread for ever. Both PC/SC users (the terminal's badge reader and the
 * gateway's desk reader) ask here; each gives the sentence that tells its own user what to install.
 */
export type NfcModule = { NFC: new (logger?: unknown) => EventEmitter & { close(): void } };

export async function loadNfcPcsc(missing: string): Promise<NfcModule> {
  try {
    const mod = (await import('nfc-pcsc' as string)) as NfcModule & { default?: NfcModule };
    const NFC = mod.NFC ?? mod.default?.NFC;
    if (typeof NFC !== 'function') throw new Error('nfc-pcsc has no NFC export');
    return { NFC };
  } catch (err) {
    throw new Error(`${missing} (${(err as Error).message.split('\n')[0]})`);
  }
}
