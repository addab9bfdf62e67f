/** The WHERE clause of a list query built from optional filters, with its arguments in the same order. */
export class Conditions {
  private readonly clauses: string[] = [];
  readonly args: unknown[] = [];

  constructor(...fixed: string[]) {
    this.clauses.push(...fixed);
  }

  /** Adds `clause` (with `?` for each of `args`). */
  add(clause: string, ...args: unknown[]): this {
    this.clauses.push(clause);
    this.args.push(...args);
    return this;
  }

  /** `WHERE a AND b`, or nothing without conditions. */
  get sql(): string {
    return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }
}
