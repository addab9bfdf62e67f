import { describe, expect, it } from 'vitest';
import { computeRemarks } from '../../gateway/remarks/rules.ts';
import { endOfSiteDay, startOfSiteDay } from '../../gateway/remarks/shifts.ts';
import { REMARK_KINDS, type RemarkFacts } from '../../gateway/remarks/model.ts';
import { at, DECLARATION, EMPLOYER_A, EMPLOYER_B, facts, now, reg } from './helpers/facts.ts';

const kinds = (f: RemarkFacts, when: Date) => computeRemarks(f, when).map((r) => r.kind).sort();

describe('shift remarks (double IN, OUT without IN, missing OUT)', () => {
  it('a day with a break done right gives no remark', () => {
    const f = facts({ registrations: [reg('2026-03-10T08:00', 'IN'), reg('2026-03-10T12:00', 'OUT', { reason: 'break' }), reg('2026-03-10T12:30', 'IN', { reason: 'break' }), reg('2026-03-10T16:00', 'OUT')] });
    expect(computeRemarks(f, now('2026-03-12T09:00'))).toEqual([]);
  });

  it('flags the second of two INs, and not a missing OUT for the first', () => {
    const second = reg('2026-03-10T09:00', 'IN');
    const f = facts({ registrations: [reg('2026-03-10T08:00', 'IN'), second, reg('2026-03-10T16:00', 'OUT')] });
    const remarks = computeRemarks(f, now('2026-03-12T09:00'));
    expect(remarks.map((r) => r.kind)).toEqual(['double-in']);
    expect(remarks[0]!.seq).toBe(second.seq);
    expect(remarks[0]!.message.fr).toContain('08:00');
  });

  it('flags an OUT with no IN before it', () => {
    const f = facts({ registrations: [reg('2026-03-10T16:00', 'OUT')] });
    expect(kinds(f, now('2026-03-10T17:00'))).toEqual(['out-without-in']);
  });

  it('shows a missing OUT only once the shift lapsed (16 h after the IN), and drops it when the OUT arrives late from an offline terminal', () => {
    const inReg = reg('2026-03-10T08:00', 'IN');
    expect(kinds(facts({ registrations: [inReg] }), now('2026-03-11T00:00'))).toEqual([]);
    const remarks = computeRemarks(facts({ registrations: [inReg] }), now('2026-03-11T00:01'));
    expect(remarks.map((r) => r.kind)).toEqual(['missing-out']);
    expect(remarks[0]!.day).toBe('2026-03-10');
    // The terminal was offline; its OUT of 16:00 arrives the next morning: the remark is resolved.
    const late = reg('2026-03-10T16:00', 'OUT', { receivedAt: at('2026-03-11T07:00') });
    expect(kinds(facts({ registrations: [inReg, late] }), now('2026-03-11T07:01'))).toEqual([]);
  });

  it('treats a night shift crossing midnight as one shift on the day of its IN', () => {
    const f = facts({ registrations: [reg('2026-03-10T22:00', 'IN'), reg('2026-03-11T06:00', 'OUT')] });
    expect(computeRemarks(f, now('2026-03-12T12:00'))).toEqual([]);
    const open = facts({ registrations: [reg('2026-03-10T22:00', 'IN')] });
    expect(kinds(open, now('2026-03-11T01:00'))).toEqual([]); // may still be working
    expect(kinds(open, now('2026-03-11T14:00'))).toEqual([]); // 22:00 + 16 h: the shift has not lapsed yet
    const late = computeRemarks(open, now('2026-03-11T14:01'));
    expect(late.map((r) => r.kind)).toEqual(['missing-out']);
    expect(late[0]!.day).toBe('2026-03-10');
    expect(late[0]!.message.en).toContain('16 hours');
  });

  it('does not let an OUT after the shift lapsed (16 h) close the IN: a missing OUT and an OUT without IN', () => {
    const f = facts({ registrations: [reg('2026-03-10T06:00', 'IN'), reg('2026-03-10T22:01', 'OUT')] });
    expect(kinds(f, now('2026-03-11T09:00'))).toEqual(['missing-out', 'out-without-in']);
    // One minute earlier the OUT still closes it: a long day, not a lapse.
    expect(kinds(facts({ registrations: [reg('2026-03-10T06:00', 'IN'), reg('2026-03-10T22:00', 'OUT')] }), now('2026-03-11T09:00'))).toEqual([]);
  });

  it('follows the configured maximum shift length', () => {
    const f = facts({ registrations: [reg('2026-03-10T06:00', 'IN'), reg('2026-03-10T17:00', 'OUT')] });
    expect(computeRemarks(f, now('2026-03-11T09:00'), { maxShiftHours: 10 }).map((r) => r.kind).sort()).toEqual(['missing-out', 'out-without-in']);
    expect(computeRemarks(f, now('2026-03-11T09:00'), { maxShiftHours: 12 })).toEqual([]);
  });

  it('pairs one shift across two sites and two doors (FAQ 28): IN at one site, OUT at the other', () => {
    const f = facts({ registrations: [reg('2026-03-10T07:00', 'IN', { siteId: 'S1', terminalId: 'T1' }), reg('2026-03-10T11:00', 'OUT', { siteId: 'S2', terminalId: 'T2' })] });
    expect(computeRemarks(f, now('2026-03-12T09:00'))).toEqual([]);
  });

  it('FAQ 37: a forgotten IN with a single OUT at the end gives that OUT only, and says so', () => {
    const out = reg('2026-03-10T16:00', 'OUT');
    const remarks = computeRemarks(facts({ registrations: [out] }), now('2026-03-10T17:00'));
    expect(remarks.map((r) => [r.kind, r.seq])).toEqual([['out-without-in', out.seq]]);
    expect(remarks[0]!.message.en).toContain('only the OUT was registered, nothing was added');
    expect(remarks[0]!.advice.fr).toContain("si elles sont déjà terminées, il ne doit plus enregistrer le IN (FAQ 37)");
    expect(remarks[0]!.advice.nl).toContain('registreert hij de IN niet meer (FAQ 37)');
  });

  it('FAQ 37: a forgotten OUT is never made up: the remark says it must not be done later', () => {
    const remarks = computeRemarks(facts({ registrations: [reg('2026-03-10T08:00', 'IN')] }), now('2026-03-12T09:00'));
    expect(remarks.map((r) => r.kind)).toEqual(['missing-out']);
    expect(remarks[0]!.advice.fr).toContain('ne doit pas le faire plus tard');
    expect(remarks[0]!.advice.nl).toContain('doet dat later niet meer');
    expect(remarks[0]!.advice.en).toContain('must not do it later');
    expect(remarks[0]!.advice.en).toContain('CIaO Management');
  });

  it('keeps workers apart', () => {
    const f = facts({ registrations: [reg('2026-03-10T08:00', 'IN', { workerId: 'W1' }), reg('2026-03-10T09:00', 'IN', { workerId: 'W2' }), reg('2026-03-10T16:00', 'OUT', { workerId: 'W1' }), reg('2026-03-10T17:00', 'OUT', { workerId: 'W2' })], workerEmployers: new Map() });
    expect(computeRemarks(f, now('2026-03-12T09:00'))).toEqual([]);
  });
});

describe('DST days (Europe/Brussels)', () => {
  it('2026-03-29 has 23 hours and 2026-10-25 has 25', () => {
    expect((endOfSiteDay(at('2026-03-29T12:00')).getTime() - startOfSiteDay('2026-03-29').getTime()) / 3_600_000).toBe(23);
    expect((endOfSiteDay(at('2026-10-25T12:00')).getTime() - startOfSiteDay('2026-10-25').getTime()) / 3_600_000).toBe(25);
  });

  it('spring: a night shift across the jump forward is one shift (7 real hours)', () => {
    const f = facts({ registrations: [reg('2026-03-28T22:00', 'IN'), reg('2026-03-29T06:00', 'OUT')] });
    expect(computeRemarks(f, now('2026-03-30T12:00'))).toEqual([]);
  });

  it('spring: a shift lapses 16 real hours after its IN, 17 on the wall clock across the jump forward', () => {
    const f = facts({ registrations: [reg('2026-03-28T20:00', 'IN')] });
    expect(kinds(f, now('2026-03-29T13:00'))).toEqual([]);
    const r = computeRemarks(f, now('2026-03-29T13:01'));
    expect(r.map((x) => x.kind)).toEqual(['missing-out']);
    expect(r[0]!.day).toBe('2026-03-28');
    // An OUT at 12:59 summer time (15 h 59 min later in reality) still closes it.
    expect(kinds(facts({ registrations: [reg('2026-03-28T20:00', 'IN'), reg('2026-03-29T12:59', 'OUT')] }), now('2026-03-30T12:00'))).toEqual([]);
  });

  it('autumn: an OUT in the repeated hour that reads earlier on the wall clock still closes the IN', () => {
    // IN 02:40 summer time (00:40Z), OUT 02:10 winter time (01:10Z): 30 minutes later in reality.
    const f = facts({ registrations: [reg('2026-10-25T02:40', 'IN', { choose: 'earlier' }), reg('2026-10-25T02:10', 'OUT', { choose: 'later' })] });
    expect(computeRemarks(f, now('2026-10-26T12:00'))).toEqual([]);
  });

  it('autumn: a night shift across the fall back is one shift (10 real hours)', () => {
    const f = facts({ registrations: [reg('2026-10-24T22:00', 'IN'), reg('2026-10-25T07:00', 'OUT')] });
    expect(computeRemarks(f, now('2026-10-26T12:00'))).toEqual([]);
  });

  it('autumn: a shift lapses 16 real hours after its IN, 15 on the wall clock across the fall back', () => {
    const f = facts({ registrations: [reg('2026-10-24T20:00', 'IN')] });
    expect(kinds(f, now('2026-10-25T11:00'))).toEqual([]);
    expect(kinds(f, now('2026-10-25T11:01'))).toEqual(['missing-out']);
    // An OUT at 11:30 winter time is 16 h 30 min later in reality: the shift had lapsed.
    expect(kinds(facts({ registrations: [reg('2026-10-24T20:00', 'IN'), reg('2026-10-25T11:30', 'OUT')] }), now('2026-10-26T12:00'))).toEqual(['missing-out', 'out-without-in']);
  });
});

describe('badges', () => {
  const rejection = (cause: 'unknown-badge' | 'revoked-badge', resolvedNow: boolean) => ({ tapId: `t-${cause}`, terminalId: 'T1', siteId: 'S1', badge: '04A1B2C3', workerId: null, at: at('2026-03-10T08:00'), cause, status: cause, detail: null, resolvedNow });
  it('flags an unknown badge until it is enrolled', () => {
    expect(kinds(facts({ unregisteredTaps: [rejection('unknown-badge', false)] }), now('2026-03-10T09:00'))).toEqual(['unknown-badge']);
    expect(kinds(facts({ unregisteredTaps: [rejection('unknown-badge', true)] }), now('2026-03-10T09:00'))).toEqual([]);
  });
  it('flags a revoked badge until the worker has a working one', () => {
    const r = computeRemarks(facts({ unregisteredTaps: [rejection('revoked-badge', false)] }), now('2026-03-10T09:00'));
    expect(r.map((x) => x.kind)).toEqual(['revoked-badge']);
    expect(r[0]!.terminalId).toBe('T1');
    expect(kinds(facts({ unregisteredTaps: [rejection('revoked-badge', true)] }), now('2026-03-10T09:00'))).toEqual([]);
  });
});

describe('employer remarks', () => {
  it('flags an employer not on the declaration (a takeover), offers a correction, and clears when the chain is updated', () => {
    const r1 = reg('2026-03-10T08:00', 'IN', { employerId: EMPLOYER_B });
    const r2 = reg('2026-03-10T16:00', 'OUT', { employerId: EMPLOYER_B });
    const f = facts({ registrations: [r1, r2], workerEmployers: new Map([['W1', new Set([EMPLOYER_B])]]) });
    const remarks = computeRemarks(f, now('2026-03-11T09:00'));
    expect(remarks.map((r) => r.kind)).toEqual(['employer-not-on-declaration', 'employer-not-on-declaration']);
    expect(remarks[0]!.correctableUntil).toBe('2026-04-09');
    expect(remarks[0]!.advice.nl).toMatch(/30 dagen/);
    const updated = { ...f, declarationCompanies: new Map([[DECLARATION, new Set([EMPLOYER_A, EMPLOYER_B])]]) };
    expect(computeRemarks(updated, now('2026-03-11T09:00'))).toEqual([]);
  });

  it('clears once ONSS accepted the correction of that registration', () => {
    const r1 = reg('2026-03-10T08:00', 'IN', { employerId: EMPLOYER_B });
    const r2 = reg('2026-03-10T16:00', 'OUT');
    const f = facts({ registrations: [r1, r2], corrections: [{ seq: r1.seq, field: 'employer', state: 'accepted' }] });
    expect(computeRemarks(f, now('2026-03-11T09:00'))).toEqual([]);
    const sent = facts({ registrations: [r1, r2], corrections: [{ seq: r1.seq, field: 'employer', state: 'sent' }] });
    expect(kinds(sent, now('2026-03-11T09:00'))).toEqual(['employer-not-on-declaration']);
  });

  it('flags a declaration this gateway does not know', () => {
    const f = facts({ registrations: [reg('2026-03-10T08:00', 'IN', { declaration: 'ZZZZZZZZZZZZZ' }), reg('2026-03-10T09:00', 'OUT', { declaration: 'ZZZZZZZZZZZZZ' })] });
    const r = computeRemarks(f, now('2026-03-11T09:00'));
    expect(r.map((x) => x.kind)).toEqual(['employer-not-on-declaration', 'employer-not-on-declaration']);
    expect(r[0]!.details.declarationKnown).toBe(false);
  });

  it("flags a missing employer choice only for a worker with several employers who chose none", () => {
    const two = new Map([['W1', new Set([EMPLOYER_A, EMPLOYER_B])]]);
    const chain = new Map([[DECLARATION, new Set([EMPLOYER_A, EMPLOYER_B])]]);
    const none = facts({ registrations: [reg('2026-03-10T08:00', 'IN', { employerChosen: false }), reg('2026-03-10T16:00', 'OUT', { employerChosen: true })], workerEmployers: two, declarationCompanies: chain });
    expect(kinds(none, now('2026-03-11T09:00'))).toEqual(['employer-choice-missing']);
    const chosen = facts({ registrations: [reg('2026-03-10T08:00', 'IN', { employerChosen: true }), reg('2026-03-10T16:00', 'OUT', { employerChosen: true })], workerEmployers: two, declarationCompanies: chain });
    expect(kinds(chosen, now('2026-03-11T09:00'))).toEqual([]);
  });
});

describe('terminal clock skew', () => {
  it('flags a terminal beyond the limit and clears when it reports a good clock', () => {
    const t = (skewMs: number) => facts({ terminals: [{ terminalId: 'T1', siteId: 'S1', state: 'online', skewMs, skewAt: at('2026-03-10T08:00') }] });
    const r = computeRemarks(t(-95_000), now('2026-03-10T09:00'));
    expect(r.map((x) => x.kind)).toEqual(['clock-skew']);
    expect(r[0]!.details.skewSeconds).toBe(-95);
    expect(computeRemarks(t(30_000), now('2026-03-10T09:00'))).toEqual([]);
  });
});

describe('agency workers and time truth', () => {
  it('gives no employer-not-on-declaration remark for an agency worker placed with a company on the chain (FAQ 26)', () => {
    const agency = '0428759497';
    const r = reg('2026-03-10T08:00', 'IN', { employerId: agency });
    const placed = new Map([['W1', [{ agencyId: agency, userCompanyId: EMPLOYER_A, from: '2026-03-01', to: null }]]]);
    expect(kinds(facts({ registrations: [r, reg('2026-03-10T16:00', 'OUT', { employerId: agency })], placements: placed }), now('2026-03-11T09:00'))).toEqual([]);
    // Without the placement, or outside its dates, the agency is not on the declaration: the remark stays.
    expect(kinds(facts({ registrations: [r] }), now('2026-03-10T09:00'))).toEqual(['employer-not-on-declaration']);
    const ended = new Map([['W1', [{ agencyId: agency, userCompanyId: EMPLOYER_A, from: '2026-03-01', to: '2026-03-09' }]]]);
    expect(kinds(facts({ registrations: [r], placements: ended }), now('2026-03-10T09:00'))).toEqual(['employer-not-on-declaration']);
  });

  it('says how far ahead a future-dated tap was and that nothing was sent; names the offset a terminal got wrong', () => {
    const f = facts({
      unregisteredTaps: [{ tapId: 'z', terminalId: 'T1', siteId: 'S1', badge: '04A1B2C4', workerId: 'W1', at: at('2026-03-10T08:10'), receivedAt: at('2026-03-10T08:00'), cause: 'future-dated', status: 'future-dated', detail: null, resolvedNow: false }],
      timeChecks: [{ tapId: 'o', terminalId: 'T2', siteId: 'S1', workerId: 'W1', at: at('2026-03-29T03:30'), sent: '2026-03-29T02:30:00.000+01:00', problem: 'nonexistent-wall-time', given: '+01:00', expected: '+02:00' }],
    });
    const r = computeRemarks(f, now('2026-03-30T09:00'));
    expect(r.map((x) => x.kind)).toEqual(['future-dated', 'terminal-time-zone']);
    expect(r[0]!.message.en).toContain('600 s after it reached the gateway');
    expect(r[0]!.message.en).toContain('nothing was sent to ONSS');
    expect(r[1]!.message.en).toContain('2026-03-29T02:30:00.000+01:00: that wall time does not exist in Brussels');
    expect(r[1]!.message.en).toContain('2026-03-29 03:30');
    expect(r[1]!.advice.fr).toContain('fuseau horaire du terminal');
  });
});

describe('forwarding remarks', () => {
  const day = () => [reg('2026-03-10T08:00', 'IN'), reg('2026-03-10T16:00', 'OUT')];
  const outage = { id: 'o1', scope: 'network', from: at('2026-03-10T07:30'), to: at('2026-03-10T11:00'), cause: 'ISP down' };

  it('flags a late transmission with no outage to explain it, and names the outage when there is one', () => {
    const [a, b] = day();
    const forwarding = new Map([[a!.seq, { state: 'created' as const, sentAt: at('2026-03-10T11:05'), remarks: [] }], [b!.seq, { state: 'created' as const, sentAt: b!.at, remarks: [] }]]);
    const unexplained = computeRemarks(facts({ registrations: [a!, b!], forwarding }), now('2026-03-11T09:00'));
    expect(unexplained.map((r) => r.kind)).toEqual(['late-transmission']);
    expect(unexplained[0]!.details.delayMinutes).toBe(185);
    expect(unexplained[0]!.details.outageId).toBeNull();
    // An outage journal entry explains it and ONSS created it: resolved.
    expect(computeRemarks(facts({ registrations: [a!, b!], forwarding, outages: [outage] }), now('2026-03-11T09:00'))).toEqual([]);
  });

  it('names a terminal\'s outage only for that terminal\'s late taps, the gateway\'s for every tap; both stay visible, unlike ONSS\'s', () => {
    const a = reg('2026-03-10T08:00', 'IN', { terminalId: 'T1', receivedAt: at('2026-03-10T10:30') });
    const b = reg('2026-03-10T08:05', 'IN', { terminalId: 'T2', workerId: 'W2', receivedAt: at('2026-03-10T10:30') });
    const forwarding = new Map([[a.seq, { state: 'created' as const, sentAt: at('2026-03-10T10:31'), remarks: [] }], [b.seq, { state: 'created' as const, sentAt: at('2026-03-10T10:31'), remarks: [] }]]);
    const t1Down = { id: 'gw-1', scope: 'terminal:T1', from: at('2026-03-10T07:50'), to: at('2026-03-10T10:29'), cause: 'connection to the gateway lost' };
    const r = computeRemarks(facts({ registrations: [a, b], forwarding, outages: [t1Down], workerEmployers: new Map() }), now('2026-03-10T12:00')).filter((x) => x.kind === 'late-transmission');
    expect(r.map((x) => [x.terminalId, x.details.outageId])).toEqual([['T1', 'gw-1'], ['T2', null]]);
    const gatewayDown = { id: 'gw-2', scope: 'gateway', from: at('2026-03-10T07:55'), to: at('2026-03-10T10:29'), cause: 'gateway stopped' };
    const g = computeRemarks(facts({ registrations: [a, b], forwarding, outages: [gatewayDown], workerEmployers: new Map() }), now('2026-03-10T12:00')).filter((x) => x.kind === 'late-transmission');
    expect(g.map((x) => x.details.outageId)).toEqual(['gw-2', 'gw-2']);
    expect(g[0]!.message.en).toContain('recorded outage: gateway');
    // ONSS's outage is force majeure: once created, the journal entry is the proof and the remark goes.
    const onssDown = { id: '7', scope: 'onss', from: at('2026-03-10T07:55'), to: at('2026-03-10T10:29'), cause: '503' };
    expect(computeRemarks(facts({ registrations: [a, b], forwarding, outages: [onssDown], workerEmployers: new Map() }), now('2026-03-10T12:00')).filter((x) => x.kind === 'late-transmission')).toEqual([]);
    // Still waiting: the remark names the journal entry of its own terminal.
    const pending = new Map([[a.seq, { state: 'pending' as const }]]);
    const waiting = computeRemarks(facts({ registrations: [a], forwarding: pending, outages: [t1Down] }), now('2026-03-10T12:00'));
    expect(waiting[0]).toMatchObject({ kind: 'late-transmission', details: { outageId: 'gw-1' } });
    expect(waiting[0]!.message.en).toContain('terminal:T1');
  });

  it('says a held tap was sent late because of the change that released it, and keeps that in the history', () => {
    const a = reg('2026-03-10T08:00', 'IN', { receivedAt: at('2026-03-10T08:00') });
    const release = { tapId: a.tapId, seq: a.seq, terminalId: 'T1', siteId: 'S1', workerId: 'W1', at: a.at, heldAs: 'unknown-badge', outcome: 'released' as const, releasedAt: at('2026-03-10T14:00'), because: { change: 'badge-enrolled', entityId: '04A1B2C6', by: 'Marie Dupont', at: at('2026-03-10T13:59') }, causeAuditId: 41, auditId: 42 };
    const pending = new Map([[a.seq, { state: 'pending' as const }]]);
    const waiting = computeRemarks(facts({ registrations: [a], forwarding: pending, releases: [release] }), now('2026-03-10T15:30'));
    const late = waiting.find((r) => r.kind === 'late-transmission')!;
    expect(late.message.en).toContain('sent late on 2026-03-10 14:00 because badge 04A1B2C6 was enrolled for the worker (change log #41)');
    expect(late.message.en).not.toContain('no recorded outage');
    const history = waiting.find((r) => r.kind === 'sent-late')!;
    expect(history.message.fr).toContain('parce que le badge 04A1B2C6 a été attribué au travailleur (par Marie Dupont');
    expect(history.message.nl).toContain('omdat badge 04A1B2C6 aan de werknemer toegekend werd');
    // Once ONSS created it, the release explains the delay; the history stays.
    const created = new Map([[a.seq, { state: 'created' as const, sentAt: at('2026-03-10T14:01'), remarks: [] }]]);
    expect(computeRemarks(facts({ registrations: [a], forwarding: created, releases: [release] }), now('2026-03-11T09:00')).map((r) => r.kind).filter((k) => k !== 'missing-out')).toEqual(['sent-late']);
  });

  it('flags a registration still pending past the limit, with the outage that explains it', () => {
    const [a, b] = day();
    const forwarding = new Map([[a!.seq, { state: 'pending' as const }], [b!.seq, { state: 'created' as const, sentAt: b!.at, remarks: [] }]]);
    const r = computeRemarks(facts({ registrations: [a!, b!], forwarding, outages: [outage] }), now('2026-03-10T10:00'));
    expect(r.map((x) => x.kind)).toEqual(['late-transmission']);
    expect(r[0]!.details.outageId).toBe('o1');
    expect(r[0]!.message.en).toContain('ISP down');
  });

  it('computes no forwarding remark where the gateway has no forwarder data at all', () => {
    const [a, b] = day();
    const f = { ...facts({ registrations: [a!, b!] }), forwarding: null };
    expect(computeRemarks(f, now('2026-03-12T10:00'))).toEqual([]);
  });

  it('flags a registration ONSS did not create, with its errors', () => {
    const [a, b] = day();
    const forwarding = new Map([[a!.seq, { state: 'not-created' as const, sentAt: a!.at, errors: ['invalid ssin'] }], [b!.seq, { state: 'created' as const, sentAt: b!.at, remarks: [] }]]);
    const r = computeRemarks(facts({ registrations: [a!, b!], forwarding }), now('2026-03-11T09:00'));
    expect(r.map((x) => x.kind)).toEqual(['not-created-by-onss']);
    expect(r[0]!.message.fr).toContain('invalid ssin');
  });

  it('shows remarks returned by ONSS with their own advice, and drops them when ONSS no longer returns them', () => {
    const [a, b] = day();
    const withRemark = new Map([[a!.seq, { state: 'created' as const, sentAt: a!.at, remarks: ['RELATED DIMONA NOT OK'] }], [b!.seq, { state: 'created' as const, sentAt: b!.at, remarks: [] }]]);
    const r = computeRemarks(facts({ registrations: [a!, b!], forwarding: withRemark }), now('2026-03-11T09:00'));
    expect(r.map((x) => x.kind)).toEqual(['onss-remark']);
    expect(r[0]!.advice.fr).toMatch(/Dimona/);
    const cleared = new Map([[a!.seq, { state: 'created' as const, sentAt: a!.at, remarks: [] }], [b!.seq, { state: 'created' as const, sentAt: b!.at, remarks: [] }]]);
    expect(computeRemarks(facts({ registrations: [a!, b!], forwarding: cleared }), now('2026-03-11T09:00'))).toEqual([]);
  });
});

describe('correction deadline', () => {
  const wrong = () => [reg('2026-03-01T08:00', 'IN', { employerId: EMPLOYER_B }), reg('2026-03-01T16:00', 'OUT')];

  it('warns in the last 7 days of the 30-day window', () => {
    const regs = wrong();
    expect(kinds(facts({ registrations: regs }), now('2026-03-23T09:00'))).toEqual(['employer-not-on-declaration']);
    const r = computeRemarks(facts({ registrations: regs }), now('2026-03-26T09:00'));
    expect(r.map((x) => x.kind).sort()).toEqual(['correction-deadline', 'employer-not-on-declaration']);
    const d = r.find((x) => x.kind === 'correction-deadline')!;
    expect(d.details.daysLeft).toBe(5);
    expect(d.details.until).toBe('2026-03-31');
  });

  it('goes away once the request is sent, and after the window closes', () => {
    const regs = wrong();
    const sent = facts({ registrations: regs, corrections: [{ seq: regs[0]!.seq, field: 'employer', state: 'sent' }] });
    expect(kinds(sent, now('2026-03-26T09:00'))).toEqual(['employer-not-on-declaration']);
    const draft = facts({ registrations: regs, corrections: [{ seq: regs[0]!.seq, field: 'employer', state: 'draft' }] });
    expect(kinds(draft, now('2026-03-26T09:00'))).toContain('correction-deadline');
    const after = computeRemarks(facts({ registrations: regs }), now('2026-04-01T09:00'));
    expect(after.map((x) => x.kind)).toEqual(['employer-not-on-declaration']);
    expect(after[0]!.correctableUntil).toBeNull();
  });
});

describe('every remark', () => {
  it('has a stable id and a message and advice in French, Dutch and English; the facts are never altered', () => {
    const regs = [
      reg('2026-03-05T08:00', 'IN', { employerId: EMPLOYER_B }),
      reg('2026-03-05T09:00', 'IN'),
      reg('2026-03-06T16:00', 'OUT'),
      reg('2026-03-07T08:00', 'IN'),
    ];
    const f = facts({
      registrations: regs,
      workerEmployers: new Map([['W1', new Set([EMPLOYER_A, EMPLOYER_B])]]),
      unregisteredTaps: [
        { tapId: 'u', terminalId: 'T1', siteId: 'S1', badge: '04A1B2C3', workerId: null, at: at('2026-03-05T07:00'), cause: 'unknown-badge', status: 'unknown-badge', detail: null, resolvedNow: false },
        { tapId: 'r', terminalId: 'T1', siteId: 'S1', badge: '04A1B2C4', workerId: 'W1', at: at('2026-03-05T07:00'), cause: 'revoked-badge', status: 'revoked-badge', detail: null, resolvedNow: false },
        { tapId: 'c', terminalId: 'T1', siteId: 'S1', badge: '04A1B2C4', workerId: 'W1', at: at('2026-03-05T07:05'), cause: 'employer-choice-missing', status: 'employer-choice-needed', detail: 'the worker has 2 employers', resolvedNow: false },
        { tapId: 'n', terminalId: 'T1', siteId: 'S1', badge: '04A1B2C4', workerId: 'W1', at: at('2026-03-05T07:06'), cause: 'tap-not-registered', status: 'no-declaration', detail: 'site S1 has no declaration of works valid on 2026-03-05', resolvedNow: false },
        { tapId: 'p', terminalId: 'T1', siteId: 'S1', badge: '04A1B2C3D4E5F6', workerId: 'W1', at: at('2026-03-05T07:07'), cause: 'possible-badge-copy', status: 'possible-copy', detail: 'possible copy of badge 04A1B2C3D4E5F6', resolvedNow: false, badgeCheck: { check: 'replayed', badge: '04A1B2C3D4E5F6', counter: 12, otherAt: at('2026-03-05T06:58') } },
        { tapId: 'k', terminalId: 'T1', siteId: 'S1', badge: '04A1B2C3D4E5F7', workerId: 'W1', at: at('2026-03-05T07:08'), cause: 'badge-key-missing', status: 'badge-key-missing', detail: 'no key version 3', resolvedNow: false, badgeCheck: { check: 'no-key', badge: '04A1B2C3D4E5F7', keyVersion: 3 } },
        { tapId: 'z', terminalId: 'T1', siteId: 'S1', badge: '04A1B2C4', workerId: null, at: at('2026-03-05T07:20'), receivedAt: at('2026-03-05T07:10'), cause: 'future-dated', status: 'future-dated', detail: 'dated 600 s ahead', resolvedNow: false },
      ],
      flaggedBadgeTaps: [{ tapId: 'f', terminalId: 'T1', siteId: 'S1', badge: '04A1B2C5', workerId: 'W1', at: at('2026-03-05T07:09'), seq: null }],
      timeChecks: [{ tapId: 'o', terminalId: 'T1', siteId: 'S1', workerId: 'W1', at: at('2026-03-05T07:11'), sent: '2026-03-05T11:41:00.000+05:30', problem: 'wrong-offset', given: '+05:30', expected: '+01:00' }],
      releases: [{ tapId: regs[2]!.tapId, seq: regs[2]!.seq, terminalId: 'T1', siteId: 'S1', workerId: 'W1', at: regs[2]!.at, heldAs: 'unknown-badge', outcome: 'released', releasedAt: at('2026-03-06T18:00'), because: { change: 'badge-enrolled', entityId: '04A1B2C6', by: 'Marie', at: at('2026-03-06T17:59') }, causeAuditId: 7, auditId: 8 }],
      terminals: [{ terminalId: 'T1', siteId: 'S1', state: 'online', skewMs: 120_000, skewAt: at('2026-03-05T07:00') }],
      forwarding: new Map([
        [regs[0]!.seq, { state: 'created', sentAt: at('2026-03-05T12:00'), remarks: ['COMPANY IS NOT KNOWN AS BUILDER OR SUBCONTRACTOR IN THIS DUC'] }],
        [regs[1]!.seq, { state: 'not-created', sentAt: regs[1]!.at, errors: ['x'] }],
        [regs[2]!.seq, { state: 'created', sentAt: regs[2]!.at, remarks: [] }],
        [regs[3]!.seq, { state: 'created', sentAt: regs[3]!.at, remarks: [] }],
      ]),
    });
    const deepFreeze = (o: unknown): void => {
      if (o && typeof o === 'object' && !Object.isFrozen(o)) {
        Object.freeze(o);
        for (const v of Object.values(o)) deepFreeze(v);
      }
    };
    for (const r of regs) deepFreeze(r);
    const before = JSON.stringify(regs);
    const remarks = computeRemarks(f, now('2026-03-30T09:00'));
    expect(JSON.stringify(regs)).toBe(before);
    expect(new Set(remarks.map((r) => r.kind))).toEqual(new Set(REMARK_KINDS));
    for (const r of remarks) {
      for (const lang of ['fr', 'nl', 'en'] as const) {
        expect(r.message[lang].length, `${r.kind} message ${lang}`).toBeGreaterThan(10);
        expect(r.advice[lang].length, `${r.kind} advice ${lang}`).toBeGreaterThan(30);
        expect(r.message[lang]).not.toMatch(/undefined|\[object/);
      }
    }
    const again = computeRemarks(f, now('2026-03-30T09:00'));
    expect(again.map((r) => r.id)).toEqual(remarks.map((r) => r.id));
    expect(new Set(remarks.map((r) => r.id)).size).toBe(remarks.length);
  });
});
