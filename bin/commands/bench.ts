import type { Command } from 'commander';
import { unavailable } from './unavailable.ts';

export function register(program: Command): void {
  unavailable(program, 'bench', 'Run the benchmarks and write docs/PERFORMANCE.md', 8);
}
