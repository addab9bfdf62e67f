/**
 * Progress of a long run (a scenario at speed, a load run, a backlog drain): how much is done, the current
 * rate, what remains and an estimated time to finish.
 *
 * On a TTY it redraws one line in place; anywhere else (CI logs, files, pipes) it prints a plain line at a
 * fixed interval, because carriage returns turn a log into noise. The clock is injectable so the output can be
 * tested without waiting.
 */

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  /** What is being done, printed first: `load`, `drain`, `scenario`. */
  label: string;
  /** Total units, when known; without it there is no "remaining" and no ETA. */
  total?: number;
  /** Unit name for counts and rates: `taps`, `registrations`. */
  unit?: string;
  /** Where to write; process.stderr by default, so a command's stdout stays its result. */
  output?: ProgressOutput;
  /** Forces the mode; by default a TTY output redraws, anything else prints plain lines. */
  mode?: 'tty' | 'plain' | 'off';
  /** Milliseconds between plain lines (default 5 s) and between TTY redraws (default 200 ms). */
  plainIntervalMs?: number;
  ttyIntervalMs?: number;
  /** Milliseconds since some origin; Date.now by default. */
  now?: () => number;
  /** Window over which the current rate is measured (default 5 s). */
  rateWindowMs?: number;
}

export interface ProgressSnapshot {
  done: number;
  total?: number;
  /** Units per second over the recent window (whole run until the window has filled). */
  rate: number;
  /** Units per second since start. */
  averageRate: number;
  elapsedMs: number;
  remaining?: number;
  /** Estimated milliseconds to finish at the current rate, when total is known and the rate is above 0. */
  etaMs?: number;
}

export interface Progress {
  /** Sets the count done so far (monotonic). */
  update(done: number, extra?: string): void;
  /** Adds to the count done. */
  add(n?: number, extra?: string): void;
  snapshot(): ProgressSnapshot;
  /** Prints the final line (always, in every mode but `off`) and ends the TTY line. */
  finish(extra?: string): void;
}

/** `1:05`, `1:02:03`; `--:--` when unknown. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '--:--';
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(h > 0 ? 2 : 1, '0');
  return h > 0 ? `${h}:${mm}:${String(s).padStart(2, '0')}` : `${mm}:${String(s).padStart(2, '0')}`;
}

/** Thousands separated by a thin comma: `1,234,567`. Rates keep one decimal under 100. */
function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function formatRate(n: number): string {
  if (n < 100) return n.toFixed(1);
  return formatCount(n);
}

/** The text of one progress line, the same in both modes. */
export function formatProgressLine(label: string, unit: string, s: ProgressSnapshot, extra?: string): string {
  const parts: string[] = [];
  if (s.total !== undefined) {
    const pct = s.total > 0 ? Math.min(100, (s.done / s.total) * 100) : 100;
    parts.push(`${formatCount(s.done)}/${formatCount(s.total)} ${unit} (${pct.toFixed(1)}%)`);
  } else {
    parts.push(`${formatCount(s.done)} ${unit}`);
  }
  parts.push(`${formatRate(s.rate)} ${unit}/s`);
  parts.push(`elapsed ${formatDuration(s.elapsedMs)}`);
  if (s.remaining !== undefined) {
    parts.push(`remaining ${formatCount(s.remaining)}`);
    parts.push(`ETA ${formatDuration(s.etaMs)}`);
  }
  if (extra) parts.push(extra);
  return `${label}: ${parts.join(' | ')}`;
}

export function createProgress(options: ProgressOptions): Progress {
  const output = options.output ?? process.stderr;
  const now = options.now ?? Date.now;
  const mode = options.mode ?? (output.isTTY ? 'tty' : 'plain');
  const unit = options.unit ?? 'items';
  const plainInterval = options.plainIntervalMs ?? 5000;
  const ttyInterval = options.ttyIntervalMs ?? 200;
  const rateWindow = options.rateWindowMs ?? 5000;
  const startedAt = now();
  let done = 0;
  let lastExtra: string | undefined;
  let lastPrintAt = startedAt;
  let finished = false;
  let lastPlainLine = '';
  // Samples (time, done) for the moving rate; the oldest kept is just outside the window.
  const samples: Array<[number, number]> = [[startedAt, 0]];

  function snapshot(): ProgressSnapshot {
    const t = now();
    const elapsedMs = t - startedAt;
    while (samples.length > 2 && samples[1]![0] <= t - rateWindow) samples.shift();
    const [t0, d0] = samples[0]!;
    const span = t - t0;
    const rate = span > 0 ? ((done - d0) * 1000) / span : 0;
    const averageRate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
    const snap: ProgressSnapshot = { done, rate, averageRate, elapsedMs };
    if (options.total !== undefined) {
      snap.total = options.total;
      snap.remaining = Math.max(0, options.total - done);
      if (snap.remaining === 0) snap.etaMs = 0;
      else if (rate > 0) snap.etaMs = (snap.remaining / rate) * 1000;
    }
    return snap;
  }

  function render(force: boolean): void {
    if (mode === 'off' || finished) return;
    const t = now();
    const interval = mode === 'tty' ? ttyInterval : plainInterval;
    if (!force && t - lastPrintAt < interval) return;
    lastPrintAt = t;
    const line = formatProgressLine(options.label, unit, snapshot(), lastExtra);
    if (mode === 'plain') lastPlainLine = line;
    // \x1b[2K clears the old line so a shorter line leaves no tail behind.
    output.write(mode === 'tty' ? `\r\x1b[2K${line}` : `${line}\n`);
  }

  function record(): void {
    const t = now();
    const last = samples[samples.length - 1]!;
    if (t > last[0]) samples.push([t, done]);
    else last[1] = done;
  }

  return {
    update(n, extra) {
      if (n > done) done = n;
      if (extra !== undefined) lastExtra = extra;
      record();
      render(false);
    },
    add(n = 1, extra) {
      done += n;
      if (extra !== undefined) lastExtra = extra;
      record();
      render(false);
    },
    snapshot,
    finish(extra) {
      if (finished) return;
      if (extra !== undefined) lastExtra = extra;
      record();
      if (mode !== 'off') {
        const s = snapshot();
        // The final line reports the average over the run, which is what a reader wants at the end.
        const line = formatProgressLine(options.label, unit, { ...s, rate: s.averageRate }, lastExtra);
        // A plain log already ending with this very line does not need it twice.
        if (mode === 'tty') output.write(`\r\x1b[2K${line}\n`);
        else if (line !== lastPlainLine) output.write(`${line}\n`);
      }
      finished = true;
    },
  };
}
