import type { Command } from 'commander';
import { unavailable } from './unavailable.ts';

export function register(program: Command): void {
  unavailable(program, 'gateway', 'Run the gateway (MQTT broker, ingest, forwarder, admin API)', 3);
}
