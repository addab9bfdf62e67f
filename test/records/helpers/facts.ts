import { parseLocalDateTime, toOffsetIso, type AmbiguityChoice } from '../../../shared/time.ts';
import type { RegistrationFact, RemarkFacts } from '../../../gateway/remarks/model.ts';

/** Builders for crafted histories: times are site wall-clock times (Europe/Brussels). */

export const EMPLOYER_A = '0403019261';
export const EMPLOYER_B = '0428759497';
export const DECLARATION = '1Y102M7NZF7PZ';

export function at(local: string, choose: AmbiguityChoice = 'earlier'): string {
  return toOffsetIso(parseLocalDateTime(local, { choose }));
}

let nextSeq = 1;

export function reg(local: string, type: 'IN' | 'OUT', extra: Partial<RegistrationFact> & { choose?: AmbiguityChoice } = {}): RegistrationFact {
  const { choose, ...rest } = extra;
  const instant = at(local, choose);
  const seq = nextSeq++;
  return {
    seq,
    tapId: `tap-${seq}`,
    terminalId: 'T1',
    siteId: 'S1',
    workerId: 'W1',
    type,
    reason: 'work',
    at: instant,
    receivedAt: instant,
    employerId: EMPLOYER_A,
    declaration: DECLARATION,
    employerChosen: null,
    ...rest,
  };
}

/** Facts where everything is in order except what the test adds. */
export function facts(partial: Partial<RemarkFacts> = {}): RemarkFacts {
  const registrations = partial.registrations ?? [];
  const forwarding = partial.forwarding ?? new Map(registrations.map((r) => [r.seq, { state: 'created' as const, sentAt: r.at, remarks: [] }]));
  return {
    registrations,
    unregisteredTaps: [],
    terminals: [],
    declarationCompanies: new Map([[DECLARATION, new Set([EMPLOYER_A])]]),
    workerEmployers: new Map([['W1', new Set([EMPLOYER_A])]]),
    outages: [],
    corrections: [],
    ...partial,
    forwarding,
  };
}

export function now(local: string): Date {
  return parseLocalDateTime(local);
}
