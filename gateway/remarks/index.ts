export * from './model.ts';
export { computeRemarks, correctionDeadline, withinCorrectionWindow, siteTime } from './rules.ts';
export { pairWorkerRegistrations, endOfSiteDay, startOfSiteDay, groupByWorker, sortByInstant, instantOf, type Segment } from './shifts.ts';
export { REMARK_TEXTS, ONSS_REMARK_ADVICE, localize } from './advice.ts';
