/**
 * What several gateway instances on one database need of it (docs/cluster.md):
 * - `terminal_status.connected_via`: the instance a terminal is connected to (set when it connects, cleared
 *   when it disconnects), so that the others can mark its terminals offline when that instance stops
 *   answering (gateway/cluster/instance-watch.ts). NULL for a lone gateway.
 */
export const CLUSTER_MIGRATIONS: string[] = [
  `
ALTER TABLE terminal_status ADD COLUMN connected_via TEXT;
CREATE INDEX terminal_status_via ON terminal_status (connected_via) WHERE state = 'online' AND connected_via IS NOT NULL;
`,
];
