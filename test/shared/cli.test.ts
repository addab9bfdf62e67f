import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';

const CIAO = ['bin/ciao.mjs'];

describe('the ciao command', () => {
  it('lists every subcommand in --help', () => {
    const out = execFileSync('node', [...CIAO, '--help'], { encoding: 'utf8' });
    for (const name of ['demo', 'gateway', 'terminal', 'emulator', 'sim', 'admin', 'bench']) {
      expect(out).toMatch(new RegExp(`^\\s+${name}\\b`, 'm'));
    }
  });

  it('answers --help for each subcommand', () => {
    for (const name of ['demo', 'gateway', 'terminal', 'emulator', 'sim', 'admin', 'bench']) {
      const r = spawnSync('node', [...CIAO, name, '--help'], { encoding: 'utf8' });
      expect(r.status, `${name} --help`).toBe(0);
      expect(r.stdout).toContain(`Usage: ciao ${name}`);
    }
  });

  it('fails clearly on an unknown command', () => {
    const r = spawnSync('node', [...CIAO, 'teleport'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("unknown command 'teleport'");
  });
});
