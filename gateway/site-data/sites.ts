import type { SqlStore } from '../store/sql-store.ts';
import { byCodePoint } from '../store/sql-binds.ts';
import { addressSchema, coordinatesSchema, type PlaceOfWork } from '../../shared/registration.ts';
import { LANGUAGES, type Language } from '../../shared/mqtt/payloads.ts';
import { parseWith } from '../../shared/schema.ts';
import { parseTerminalId } from '../../shared/mqtt/topics.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { check, nowIso, problem, requireText, throwIfAny } from './input.ts';

/** Sites: where the cleaning happens; a place of work is an address, coordinates, or both (FAQ 30). */
export interface SiteInput {
  id: string;
  name: string;
  language?: string;
  postCode?: string;
  municipality?: string;
  street?: string;
  houseNumber?: string;
  box?: string;
  latitude?: number | string;
  longitude?: number | string;
  /** Require secure badges (NTAG 424 DNA) here; left out, the site keeps its rule (badge-policy.ts). */
  requireSecureBadges?: boolean;
}

export interface Site {
  id: string;
  name: string;
  language: Language;
  placeOfWork: PlaceOfWork;
  /** UID-only badges are refused at enrolment for the site's workers and flagged on every tap (badge-policy.ts). */
  requireSecureBadges: boolean;
  deactivatedAt: string | null;
}

interface SiteRow {
  id: string;
  name: string;
  language: Language;
  post_code: string | null;
  municipality: string | null;
  street: string | null;
  house_number: string | null;
  box_number: string | null;
  latitude: number | null;
  longitude: number | null;
  require_secure_badges?: number;
  deactivated_at?: string | null;
}

export function placeOfWorkOf(row: SiteRow): PlaceOfWork {
  const place: PlaceOfWork = {};
  if (row.post_code !== null) {
    place.address = {
      postCode: row.post_code,
      municipalityName: row.municipality ?? '',
      streetName: row.street ?? '',
      houseNumber: row.house_number ?? '',
      ...(row.box_number ? { boxNumber: row.box_number } : {}),
    };
  }
  if (row.latitude !== null && row.longitude !== null) place.coordinates = { latitude: row.latitude, longitude: row.longitude };
  return place;
}

function toSite(row: SiteRow): Site {
  return { id: row.id, name: row.name, language: row.language, placeOfWork: placeOfWorkOf(row), requireSecureBadges: row.require_secure_badges === 1, deactivatedAt: row.deactivated_at ?? null };
}

function toNumber(v: number | string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  return typeof v === 'number' ? v : Number(v);
}

/** Adds a site, or changes a known one (its rule for secure badges apart), through the storage port. */
export async function upsertSite(store: SqlStore, input: SiteInput): Promise<Site> {
  const problems: FieldProblem[] = [];
  const id = check(parseTerminalId(input.id, 'id'), problems);
  const name = requireText(input.name, 'name', problems);
  const language = (input.language ?? 'fr') as Language;
  if (!(LANGUAGES as readonly string[]).includes(language)) problems.push(problem('language', 'enum', `must be one of ${LANGUAGES.join(', ')}`));
  const anyAddress = [input.postCode, input.municipality, input.street, input.houseNumber].some((v) => v !== undefined && v !== '');
  let address: PlaceOfWork['address'];
  if (anyAddress) {
    const r = parseWith(addressSchema, {
      postCode: input.postCode ?? '',
      municipalityName: input.municipality ?? '',
      streetName: input.street ?? '',
      houseNumber: input.houseNumber ?? '',
      ...(input.box ? { boxNumber: input.box } : {}),
    });
    if (r.ok) address = r.value;
    else problems.push(...r.problems.map((p) => ({ ...p, field: `address.${p.field}`, message: `address.${p.message}` })));
  }
  let coordinates: PlaceOfWork['coordinates'];
  const lat = toNumber(input.latitude);
  const lon = toNumber(input.longitude);
  if (lat !== undefined || lon !== undefined) {
    const r = parseWith(coordinatesSchema, { latitude: lat, longitude: lon });
    if (r.ok) coordinates = r.value;
    else problems.push(...r.problems.map((p) => ({ ...p, field: `coordinates.${p.field}`, message: `coordinates.${p.message}` })));
  }
  if (!anyAddress && lat === undefined && lon === undefined) problems.push(problem('placeOfWork', 'required', 'needs an address (post code, municipality, street, house number) or coordinates'));
  throwIfAny(problems);
  await store.run(
    `INSERT INTO sites (id, name, language, post_code, municipality, street, house_number, box_number, latitude, longitude, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, language = excluded.language, post_code = excluded.post_code,
       municipality = excluded.municipality, street = excluded.street, house_number = excluded.house_number,
       box_number = excluded.box_number, latitude = excluded.latitude, longitude = excluded.longitude`,
    [
      id!, name!, language,
      address?.postCode ?? null,
      address?.municipalityName ?? null,
      address?.streetName ?? null,
      address?.houseNumber ?? null,
      address?.boxNumber ?? null,
      coordinates?.latitude ?? null,
      coordinates?.longitude ?? null,
      nowIso(),
    ],
  );
  return (await getSite(store, id!))!;
}

export async function getSite(store: SqlStore, id: string): Promise<Site | undefined> {
  const row = await store.one<SiteRow>('SELECT * FROM sites WHERE id = $1', [id]);
  return row ? toSite(row) : undefined;
}

/** By id, compared by code point as SQLite sorts them, whatever a PostgreSQL server's collation. */
export async function listSites(store: SqlStore): Promise<Site[]> {
  return (await store.all<SiteRow>('SELECT * FROM sites')).sort((a, b) => byCodePoint(a.id, b.id)).map(toSite);
}

/** Marks a site deactivated (or active again): kept, since registrations refer to it. */
export async function setSiteDeactivated(store: SqlStore, id: string, at: Date | null): Promise<void> {
  await store.run('UPDATE sites SET deactivated_at = $1 WHERE id = $2', [at ? at.toISOString() : null, id]);
}

/** Writes the site's rule for secure badges, in the caller's transaction; the caller records the change. */
export async function writeSiteRule(store: SqlStore, siteId: string, required: boolean): Promise<void> {
  await store.run('UPDATE sites SET require_secure_badges = $1 WHERE id = $2', [required ? 1 : 0, siteId]);
}
