import { existsSync } from 'node:fs';
import { VirtualCard, type CardKind } from './virtual-card.ts';
import { loadOrCreateState, loadState, saveState, wrongKeysState, blankState, type Ntag424State } from './ntag424/card-state.ts';
import { ReplayCard, VirtualNtag424 } from './ntag424/ntag424-card.ts';

/**
 * The badges (and copies of badges) the simulator can put on the vpcd reader:
 *   plain       a UID-only badge (MIFARE Classic, as before): the reader gets its UID and nothing else;
 *   ntag424     an NTAG 424 DNA: blank as delivered, or as left by personalisation (state file);
 *   uid-only    a "magic" card programmed with a secure badge's UID: Type 4, but no NDEF application;
 *   replay      a card answering with one SUN message captured from a genuine badge, always the same;
 *   wrong-keys  a genuine NTAG 424 DNA with SUN on, personalised with keys this site does not hold.
 */
export const BADGE_KINDS = ['plain', 'ntag424', 'uid-only', 'replay', 'wrong-keys'] as const;
export type BadgeKind = (typeof BADGE_KINDS)[number];

export interface VirtualBadgeOptions {
  uid: string;
  kind?: BadgeKind;
  host?: string;
  port?: number;
  /** ntag424 / wrong-keys: the JSON file keeping keys, counter and files across runs (created when missing). */
  stateFile?: string;
  /** ntag424: a state to start from instead of a file (tests). */
  state?: Ntag424State;
  /** replay: the NDEF file content captured from the genuine badge. */
  replayNdef?: Buffer;
  /** plain: the ISO 14443 flavour (default MIFARE Classic, ISO 14443-3). */
  cardKind?: CardKind;
  silentOnGetUid?: boolean;
  silentAfterApdus?: number;
  /** Test seam for the NTAG 424 DNA's random numbers. */
  random?: (n: number) => Buffer;
}

export interface VirtualBadge {
  card: VirtualCard;
  /** The NTAG 424 DNA emulation, for ntag424 and wrong-keys. */
  chip?: VirtualNtag424;
}

export function virtualBadge(o: VirtualBadgeOptions): VirtualBadge {
  const kind = o.kind ?? 'plain';
  const base = { uid: o.uid, host: o.host, port: o.port, silentOnGetUid: o.silentOnGetUid, silentAfterApdus: o.silentAfterApdus };
  switch (kind) {
    case 'plain':
      return { card: new VirtualCard({ ...base, kind: o.cardKind ?? 'iso14443-3' }) };
    case 'uid-only':
      return { card: new VirtualCard({ ...base, kind: 'iso14443-4' }) };
    case 'replay': {
      if (!o.replayNdef) throw new Error('replay: the captured NDEF file (replayNdef) is required');
      return { card: new VirtualCard({ ...base, kind: 'iso14443-4', applet: new ReplayCard(o.replayNdef) }) };
    }
    case 'ntag424':
    case 'wrong-keys': {
      let state: Ntag424State;
      if (o.state) state = o.state;
      else if (o.stateFile && existsSync(o.stateFile)) state = loadState(o.stateFile);
      else if (kind === 'wrong-keys') {
        state = wrongKeysState(o.uid);
        if (o.stateFile) saveState(o.stateFile, state);
      } else state = o.stateFile ? loadOrCreateState(o.stateFile, o.uid) : blankState(o.uid);
      if (state.uid.toUpperCase() !== o.uid.toUpperCase()) throw new Error(`${o.stateFile ?? 'state'}: holds card ${state.uid}, not ${o.uid.toUpperCase()}`);
      const chip = new VirtualNtag424({ state, stateFile: o.stateFile, random: o.random });
      return { card: new VirtualCard({ ...base, kind: 'iso14443-4', applet: chip }), chip };
    }
  }
}
