import { appendFileSync } from 'node:fs';

/**
 * Figures measured by the abuse suite (cases run, rejections, crashes, lost taps). Printed only when
 * ABUSE_FIGURES names a file: `ABUSE_FIGURES=/tmp/abuse.jsonl npx vitest run test/abuse`.
 */
export function recordFigure(suite: string, what: string, value: number): void {
  const file = process.env.ABUSE_FIGURES;
  if (file) appendFileSync(file, `${JSON.stringify({ suite, what, value })}\n`);
}
