import type { Command } from 'commander';
import { register as demo } from './demo.ts';
import { register as gateway } from './gateway.ts';
import { register as terminal } from './terminal.ts';
import { register as emulator } from './emulator.ts';
import { register as sim } from './sim.ts';
import { register as admin } from './admin.ts';
import { register as bench } from './bench.ts';
import { register as release } from './release.ts';

/** Every subcommand, in the order `ciao --help` lists them. */
export const commands: Array<(program: Command) => void> = [demo, gateway, terminal, emulator, sim, admin, release, bench];
