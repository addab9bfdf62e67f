/** What the gateway takes as a PostgreSQL URL (config `store.url`, `onss.lease.url`, CIAO_GATEWAY_DATABASE_URL). */
export const POSTGRES_URL = /^postgres(ql)?:\/\/\S+$/;

/**
 * Which database a PostgreSQL URL names, without its password: user, host, port (5432 when absent) and
 * database name. Two URLs with the same key reach the same database, so a forwarder lease taken on one is
 * visible to a transaction on the other (gateway/forward/lease.ts, the in-flight fence).
 */
export function postgresDatabaseKey(url: string): string {
  try {
    const u = new URL(url);
    return `${decodeURIComponent(u.username)}@${u.hostname}:${u.port || '5432'}/${decodeURIComponent(u.pathname.slice(1))}`;
  } catch {
    // Not a URL the driver would take either; compared as written.
    return url;
  }
}
