import type { Command } from 'commander';
import { unavailable } from './unavailable.ts';

export function register(program: Command): void {
  unavailable(program, 'emulator', 'Run the ONSS web service emulator alone', 4);
}
