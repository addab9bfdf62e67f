/**
 * A service's URL (PostgreSQL, Redis) as it may be logged or shown in an error: its password replaced by
 * `***`. A URL that does not parse is not echoed at all, since it may hold the password anywhere.
 */
export function redactedUrl(url: string, scheme: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return `${scheme}://(unparsable URL)`;
  }
}
