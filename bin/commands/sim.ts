import type { Command } from 'commander';
import { unavailable } from './unavailable.ts';

export function register(program: Command): void {
  unavailable(program, 'sim', 'Simulated terminal (interactive), scripted scenario, or load generator', 7);
}
