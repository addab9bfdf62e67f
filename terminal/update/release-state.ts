import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The releases folder the launcher (deploy/ciao-terminal-launcher) and the update agent share: the installed
 * versions and a few one-line files, each written aside and renamed over the old one, so that a power cut
 * leaves the old content or the new, never half of it. The launcher's header describes every file.
 */
export interface Trial {
  version: string;
  /** Epoch seconds: the launcher returns to the previous version when this passes without confirmation. */
  deadline: number;
  starts: number;
  rollout: number;
}

export interface RolledBack {
  version: string;
  rollout: number;
  reason: string;
}

export interface Declined {
  state: 'failed' | 'rolled-back';
  reason: string;
}

/** The name the launcher uses for the release installed as a package. */
export const BASE_RELEASE = 'base';

export class ReleaseState {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private put(name: string, content: string): void {
    const tmp = join(this.dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, content.endsWith('\n') ? content : `${content}\n`);
    renameSync(tmp, join(this.dir, name));
  }

  private read(name: string): string | undefined {
    try {
      return readFileSync(join(this.dir, name), 'utf8');
    } catch {
      return undefined;
    }
  }

  versionDir(version: string): string {
    return join(this.dir, version);
  }

  get current(): string {
    return this.read('current')?.trim() || BASE_RELEASE;
  }

  get previous(): string {
    return this.read('previous')?.trim() || BASE_RELEASE;
  }

  get trial(): Trial | undefined {
    const words = this.read('trial')?.trim().split(/\s+/);
    if (!words || words.length < 4) return undefined;
    return { version: words[0]!, deadline: Number(words[1]), starts: Number(words[2]), rollout: Number(words[3]) };
  }

  /**
   * Switches to `version` on trial: the launcher starts it at the next start and goes back to `previous`
   * unless it is confirmed before `deadline`. `current` is written last: until then nothing has changed.
   */
  beginTrial(version: string, previous: string, rollout: number, deadline: number): void {
    rmSync(join(this.dir, 'trial-exit'), { force: true });
    this.put('previous', previous);
    this.put('trial', `${version} ${deadline} 0 ${rollout}`);
    this.put('current', version);
  }

  /** The version on trial is online and healthy: it stays. */
  confirmTrial(): void {
    rmSync(join(this.dir, 'trial'), { force: true });
    rmSync(join(this.dir, 'trial-exit'), { force: true });
  }

  get rolledBack(): RolledBack | undefined {
    const text = this.read('rolled-back');
    if (!text) return undefined;
    const [head = '', ...rest] = text.split('\n');
    const [version = '', rollout = '0'] = head.trim().split(/\s+/);
    return { version, rollout: Number(rollout), reason: rest.join(' ').trim() || 'rolled back' };
  }

  /** The launcher's rollback, once seen: remembered as declined, so that the same offer is not taken again. */
  settleRollback(): RolledBack | undefined {
    const r = this.rolledBack;
    if (r) this.decline(r.version, r.rollout, 'rolled-back', r.reason);
    rmSync(join(this.dir, 'rolled-back'), { force: true });
    return r;
  }

  /** Offers that failed or were rolled back here, by `version rollout`: never tried again. */
  declined(): Map<string, Declined> {
    const out = new Map<string, Declined>();
    for (const line of (this.read('declined') ?? '').split('\n')) {
      const [version, rollout, state, ...reason] = line.split('\t');
      if (version && rollout && (state === 'failed' || state === 'rolled-back')) out.set(`${version} ${rollout}`, { state, reason: reason.join(' ') });
    }
    return out;
  }

  decline(version: string, rollout: number, state: Declined['state'], reason: string): void {
    const lines = (this.read('declined') ?? '').split('\n').filter(Boolean).slice(-49);
    lines.push(`${version}\t${rollout}\t${state}\t${reason.replace(/[\t\n]/g, ' ')}`);
    this.put('declined', lines.join('\n'));
  }

  /** Installed versions other than these are removed (a failed install, versions two updates back). */
  prune(keep: string[]): string[] {
    const removed: string[] = [];
    for (const name of readdirSync(this.dir)) {
      const path = join(this.dir, name);
      if (keep.includes(name) || (!/^\d/.test(name) && !name.startsWith('.install-') && !name.startsWith('.download-'))) continue;
      if (!existsSync(path)) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }
}
