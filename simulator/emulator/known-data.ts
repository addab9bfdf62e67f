import { z } from 'zod';
import { InvalidInputError } from '../../shared/problems.ts';
import { parseWith } from '../../shared/schema.ts';
import { readJsonFile } from '../../shared/json-file.ts';

/**
 * What the emulated ONSS knows about the world, to compute remarks: declarations of works (with the
 * companies on them and their period) and companies. Loaded from a JSON file (`--declarations FILE`):
 *
 * {
 *   "companies": [ { "id": "0403019261", "active": true } ],
 *   "declarations": [
 *     { "reference": "1Y102M7NZF7PZ", "from": "2025-01-01", "to": "2027-12-31", "companies": ["0403019261"] }
 *   ]
 * }
 *
 * `id` is an enterprise number or a foreign VAT number. `from`/`to` (dates, inclusive) and `companies` are
 * optional; an empty `companies` list means any company may work under the declaration.
 * Without such a file the emulator checks neither declarations nor companies.
 */
export const knownDataSchema = z.object({
  companies: z.array(z.object({ id: z.string().min(1), active: z.boolean().default(true) })).default([]),
  declarations: z
    .array(
      z.object({
        reference: z.string().regex(/^[A-HJ-NP-Z0-9]{13}$/, 'must be 13 upper-case letters (no I, O) and digits'),
        from: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD').optional(),
        to: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD').optional(),
        companies: z.array(z.string().min(1)).default([]),
      }),
    )
    .default([]),
});
export type KnownData = z.output<typeof knownDataSchema>;

export function loadKnownData(path: string): KnownData {
  const raw = readJsonFile(path, 'declarations file');
  const r = parseWith(knownDataSchema, raw);
  if (!r.ok) throw new InvalidInputError(r.problems.map((p) => ({ ...p, message: `declarations file ${path}: ${p.message}` })));
  return r.value;
}

/** Remarks the service would give after its checks against what it knows. */
export class KnownWorld {
  private readonly declarations: Map<string, KnownData['declarations'][number]>;
  private readonly companies: Map<string, boolean>;

  constructor(readonly data: KnownData | undefined) {
    this.declarations = new Map((data?.declarations ?? []).map((d) => [d.reference, d]));
    this.companies = new Map((data?.companies ?? []).map((c) => [c.id, c.active]));
  }

  remarksFor(r: { reference: string; employer_id: string; registration_date: string }): string[] {
    if (!this.data) return [];
    const remarks: string[] = [];
    if (this.companies.size > 0) {
      const active = this.companies.get(r.employer_id);
      if (active === undefined) remarks.push("THE COMPANY DOESN'T EXISTS");
      else if (!active) remarks.push('EMPLOYER NOT ACTIVE');
    }
    const d = this.declarations.get(r.reference);
    if (!d) {
      remarks.push('DUC IS NOT EXISTING');
      return remarks;
    }
    const day = r.registration_date.slice(0, 10);
    if ((d.from && day < d.from) || (d.to && day > d.to)) remarks.push('DUC IS NOT ACTIVE AT THIS DATE');
    if (d.companies.length > 0 && !d.companies.includes(r.employer_id)) remarks.push('COMPANY IS NOT KNOWN AS BUILDER OR SUBCONTRACTOR IN THIS DUC');
    return remarks;
  }
}
