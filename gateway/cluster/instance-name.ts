import { hostname } from 'node:os';

/**
 * An instance's name when the config gives none: its host and process id. Give each instance a name of its
 * own (`cluster.instance`) for logs, `/health` and the outage journal that stay the same across restarts.
 */
export function clusterInstanceName(configured?: string): string {
  return configured ?? `${hostname()}-${process.pid}`;
}
