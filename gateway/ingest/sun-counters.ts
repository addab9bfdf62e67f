/**
 * What the gateway remembers of a secure badge's read counters, and the rule that says whether a verified
 * message is new. One small row per badge (`badge_sun_state`), rewritten with each accepted tap in the same
 * transaction: the highest counter accepted, and the last READ_WINDOW accepted reads (counter and the tap's
 * time), highest first, packed in a BLOB of 8 bytes a read (32-bit counter, 32-bit seconds since the epoch,
 * big-endian). A row per badge rather than a row per read: it stays the same size however many taps come,
 * and each tap rewrites one row of a table that stays small.
 *
 * The rule, for a message whose MAC verified:
 * - a counter above every counter accepted is fresh;
 * - a counter accepted before is a replay;
 * - a lower counter is a genuine tap sent late (a terminal that was offline, while the badge was used at
 *   another door) when the tap was made before the tap of the next higher counter accepted, give or take the
 *   tolerance for terminal clocks; made after it, it can only be a message read from the badge beforehand;
 * - a counter below the oldest of a full window cannot be told apart: held as too old.
 */
export const READ_WINDOW = 32;
const ENTRY = 8;

export interface SunRead {
  counter: number;
  /** The tap's time (terminal clock), in whole seconds since the epoch. */
  atS: number;
}

/** A badge's row: the highest counter and the packed window, kept packed (a fresh tap never unpacks it). */
export interface SunState {
  highest: number;
  /** READ_WINDOW reads at most, highest counter first, 8 bytes each. */
  recent: Buffer;
}

export function decodeRecent(blob: Uint8Array): SunRead[] {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const out: SunRead[] = [];
  for (let at = 0; at + ENTRY <= b.length; at += ENTRY) out.push({ counter: b.readUInt32BE(at), atS: b.readUInt32BE(at + 4) });
  return out;
}

export function encodeRecent(reads: SunRead[]): Buffer {
  const b = Buffer.allocUnsafe(reads.length * ENTRY);
  reads.forEach((r, i) => {
    b.writeUInt32BE(r.counter, i * ENTRY);
    b.writeUInt32BE(r.atS, i * ENTRY + 4);
  });
  return b;
}

export type CounterVerdict =
  | { fresh: true }
  | { fresh: false; why: 'replayed'; earlier: SunRead }
  | { fresh: false; why: 'lower-counter'; later: SunRead }
  | { fresh: false; why: 'counter-too-old'; oldest: SunRead };

/** Judges `counter`, read at `atMs` (the tap's time), against what was accepted for the badge. */
export function judgeCounter(state: SunState | undefined, counter: number, atMs: number, toleranceMs: number): CounterVerdict {
  if (!state || counter > state.highest) return { fresh: true };
  const b = state.recent;
  const entries = Math.floor(b.length / ENTRY);
  let next: SunRead | undefined;
  for (let i = 0; i < entries; i++) {
    const c = b.readUInt32BE(i * ENTRY);
    if (c === counter) return { fresh: false, why: 'replayed', earlier: { counter: c, atS: b.readUInt32BE(i * ENTRY + 4) } };
    if (c < counter) break;
    next = { counter: c, atS: b.readUInt32BE(i * ENTRY + 4) };
  }
  const oldest: SunRead = entries > 0 ? { counter: b.readUInt32BE((entries - 1) * ENTRY), atS: b.readUInt32BE((entries - 1) * ENTRY + 4) } : { counter: state.highest, atS: 0 };
  if (!next || (entries >= READ_WINDOW && counter < oldest.counter)) return { fresh: false, why: 'counter-too-old', oldest };
  if (atMs > next.atS * 1000 + toleranceMs) return { fresh: false, why: 'lower-counter', later: next };
  return { fresh: true };
}

/** The state after accepting `read`. */
export function withRead(state: SunState | undefined, read: SunRead): SunState {
  const entry = Buffer.allocUnsafe(ENTRY);
  entry.writeUInt32BE(read.counter, 0);
  entry.writeUInt32BE(read.atS, 4);
  if (!state) return { highest: read.counter, recent: entry };
  if (read.counter > state.highest) {
    // The usual case: the newest read goes first, the oldest falls off a full window.
    return { highest: read.counter, recent: Buffer.concat([entry, state.recent.subarray(0, (READ_WINDOW - 1) * ENTRY)]) };
  }
  const reads = decodeRecent(state.recent).filter((r) => r.counter !== read.counter);
  const at = reads.findIndex((r) => r.counter < read.counter);
  reads.splice(at < 0 ? reads.length : at, 0, read);
  return { highest: state.highest, recent: encodeRecent(reads.slice(0, READ_WINDOW)) };
}
