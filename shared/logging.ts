import pino, { type Logger, type LoggerOptions } from 'pino';

/**
 * Structured logs for every process. NISS/BIS numbers must never reach a log: known fields are redacted by
 * path, and any 11-digit run in a logged string (a message, an error) is masked as a last line of defence.
 */
const REDACTED_PATHS = [
  'niss', 'ssin', 'bis', 'secret', 'password', 'token', 'access_token', 'client_assertion', 'authorization',
  '*.niss', '*.ssin', '*.bis', '*.secret', '*.password', '*.token', '*.access_token', '*.client_assertion', '*.authorization',
  '*.*.niss', '*.*.ssin', 'headers.authorization', 'req.headers.authorization',
];

const ELEVEN_DIGITS = /(?<![0-9])[0-9]{2}[.\s]?[0-9]{2}[.\s]?[0-9]{2}[-.\s]?[0-9]{3}[.\s]?[0-9]{2}(?![0-9])/g;

export function maskNationalNumbers(text: string): string {
  return text.replace(ELEVEN_DIGITS, '[NISS]');
}

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskNationalNumbers(value);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { type: value.name, message: maskNationalNumbers(value.message), stack: value.stack ? maskNationalNumbers(value.stack) : undefined };
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, depth + 1);
  return out;
}

export function createLogger(name: string, options: LoggerOptions = {}, destination?: pino.DestinationStream): Logger {
  const opts: LoggerOptions = {
    name,
    level: process.env.CIAO_LOG_LEVEL ?? options.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => scrub(a)) as Parameters<typeof method>);
      },
    },
    ...options,
  };
  return destination ? pino(opts, destination) : pino(opts);
}

export type { Logger };
