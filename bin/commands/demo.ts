import type { Command } from 'commander';
import { unavailable } from './unavailable.ts';

export function register(program: Command): void {
  unavailable(program, 'demo', 'Run the emulator, the gateway and simulated terminals on loopback with demo data', 7);
}
