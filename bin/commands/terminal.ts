import type { Command } from 'commander';
import { unavailable } from './unavailable.ts';

export function register(program: Command): void {
  unavailable(program, 'terminal', 'Run one badge terminal', 5);
}
