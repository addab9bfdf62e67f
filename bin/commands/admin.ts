import type { Command } from 'commander';
import { unavailable } from './unavailable.ts';

export function register(program: Command): void {
  unavailable(program, 'admin', 'Site manager administration (sites, declarations, terminals, workers, badges)', 3);
}
