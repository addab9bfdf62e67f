import type { ApiUser } from '../access/users.ts';
import type { SqlStore } from '../store/sql-store.ts';

/**
 * FAQ 33: a company's manager sees the registrations of its own workers and of the workers of its
 * subcontracting chain on its declarations, not another company's. The chain of a declaration is ranked
 * (0 = main contractor); a company's subcontracting chain there is every company ranked at or after it.
 * Answers a predicate on (declaration, employer), or null when the user is not scoped to a company.
 */
export async function companyScope(store: SqlStore, user: ApiUser): Promise<((declaration: string | null, employerId: string | null) => boolean) | null> {
  if (user.company === null) return null;
  const rows = await store.all<{ declaration: string; company_id: string; rank: number; my_rank: number }>(
    `SELECT dc.declaration, dc.company_id, dc.rank, me.rank AS my_rank FROM declaration_companies dc
     JOIN declaration_companies me ON me.declaration = dc.declaration AND me.company_id = $1`,
    [user.company],
  );
  const visible = new Set(rows.filter((r) => r.rank >= r.my_rank).map((r) => `${r.declaration}\n${r.company_id}`));
  const company = user.company;
  return (declaration, employerId) => employerId === company || (declaration !== null && employerId !== null && visible.has(`${declaration}\n${employerId}`));
}
