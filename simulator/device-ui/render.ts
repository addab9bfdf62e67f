/**
 * Draws the simulated terminal as it looks on the wall: the 16x2 LCD, the two LEDs, the last beep, the
 * keys, and the status of the world around it (gateway link, network, outbox, clock). Pure: state in,
 * text out, so it is tested without a terminal window and the interactive UI only decides when to draw.
 */
export interface DeviceView {
  title: string;
  lcd: [string, string];
  led: 'green' | 'red' | 'off';
  lastBeep: string | null;
  badges: Array<{ key: string; label: string }>;
  /** Keys that act on the world around the terminal (network, clock, reader), in display order. */
  worldKeys: Array<{ key: string; label: string }>;
  status: {
    link: 'online' | 'offline' | 'connecting';
    /** The gateway it is on, when the terminal was given several addresses. */
    gateway?: string;
    network: 'up' | 'cut' | 'stalled' | 'not proxied';
    queued: number;
    inFlight: number;
    /** Gateway clock minus terminal clock, as last measured; null before the first ack. */
    skewMs: number | null;
    clockOff: boolean;
    /** The terminal clock, as the site reads it (HH:MM:SS). */
    clock: string;
    /** Terminal clock minus real time, in ms (what the clock keys changed). */
    clockOffsetMs: number;
    reader: string;
    /** Why the terminal cannot register taps now (FAQ 31), most urgent first; empty when it can. */
    cannotRegister: string[];
  };
  /** Last lines of what happened, newest last. */
  log: string[];
}

const GREEN = '\x1b[42m\x1b[30m';
const RED = '\x1b[41m\x1b[30m';
const DIM = '\x1b[2m';
const BOLD = '\x1b[1m';
const LCD = '\x1b[48;5;22m\x1b[38;5;120m';
const RESET = '\x1b[0m';

export const LOG_LINES = 8;

/** "+300.0 s", "-12 ms": short enough for a status line, precise enough to read a clock jump. */
export function formatSkew(ms: number | null): string {
  if (ms === null) return 'not measured';
  const sign = ms >= 0 ? '+' : '-';
  const abs = Math.abs(ms);
  return abs < 1000 ? `${sign}${Math.round(abs)} ms` : `${sign}${(abs / 1000).toFixed(1)} s`;
}

/** "+5 min", "-1 h 10 min", "+0 min": the offset the clock keys gave the terminal clock. */
export function formatOffset(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return abs >= 60 ? `${sign}${Math.floor(abs / 60)} h ${abs % 60} min` : `${sign}${abs} min`;
}

const CANNOT_REGISTER_WORDS: Record<string, string> = {
  'outbox-unwritable': 'outbox not writable',
  'no-site-config': 'no site config from the gateway yet',
  'no-reader': 'no reader',
};

/** "yes", or "NO (no reader, ...)": whether a tap now would be registered, and if not, why. */
export function formatRegisters(reasons: readonly string[]): string {
  return reasons.length === 0 ? 'yes' : `NO (${reasons.map((r) => CANNOT_REGISTER_WORDS[r] ?? r).join(', ')})`;
}

export function renderDevice(view: DeviceView, options: { color?: boolean } = {}): string {
  const color = options.color ?? true;
  const paint = (code: string, text: string) => (color ? `${code}${text}${RESET}` : text);
  const lcdLine = (s: string) => `│${paint(LCD, ` ${s.slice(0, 16).padEnd(16)} `)}│`;
  const led = (on: boolean, code: string, name: string) => (on ? paint(code, ` ● ${name} `) : paint(DIM, ` ○ ${name} `));
  const s = view.status;
  const network = s.network === 'up' ? 'up' : paint(BOLD, s.network.toUpperCase());
  const link = s.link === 'online' ? `online${s.gateway ? ` via ${s.gateway}` : ''}` : paint(BOLD, s.link);

  const lines = [
    `  ${paint(BOLD, view.title)}`,
    '',
    '  ┌──────────────────┐',
    `  ${lcdLine(view.lcd[0])}   ${led(view.led === 'green', GREEN, 'green')} ${led(view.led === 'red', RED, 'red')}`,
    `  ${lcdLine(view.lcd[1])}   beep: ${view.lastBeep ?? '-'}`,
    '  └──────────────────┘',
    '',
    '  buttons  [i] IN   [o] OUT   [b] BREAK',
    `  badges   ${view.badges.map((b) => `[${b.key}] ${b.label}`).join('  ')}`,
    `  world    ${view.worldKeys.map((k) => `[${k.key}] ${k.label}`).join('  ')}   [q] quit`,
    '',
    `  link ${link} · network ${network} · queued ${s.queued} · in flight ${s.inFlight} · reader ${s.reader}`,
    `  clock ${s.clock} (${formatOffset(s.clockOffsetMs)}) · skew ${formatSkew(s.skewMs)}${s.clockOff ? ` ${paint(BOLD, '(clock off!)')}` : ''}`,
    `  registers taps: ${s.cannotRegister.length === 0 ? 'yes' : paint(BOLD, formatRegisters(s.cannotRegister))}`,
    '',
    ...view.log.slice(-LOG_LINES).map((l) => `  ${paint(DIM, l)}`),
  ];
  return lines.join('\n');
}
