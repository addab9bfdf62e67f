/**
 * The Brussels calendar day `daysAgo` days before today, as YYYY-MM-DD. Calendar arithmetic on the date, not
 * 24-hour steps on the instant: those slip a day when the span crosses a DST change late in the evening.
 */
export function siteDay(daysAgo = 0, now = new Date()): string {
  const [y, m, d] = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Brussels' }).format(now).split('-').map(Number);
  return new Date(Date.UTC(y!, m! - 1, d! - daysAgo)).toISOString().slice(0, 10);
}
