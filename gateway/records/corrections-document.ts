import { siteTime } from '../remarks/rules.ts';
import type { CorrectionRequest } from './corrections-store.ts';
import type { RegistrationRecord } from './ports.ts';
import { toCsv } from './export.ts';

/**
 * The document a correction request is sent to ONSS with (FAQ 36, 51: through the CIaO Management form):
 * which registration, which field, the registered and the requested value, the reason. CSV and JSON for
 * records, a printable HTML page for a person. The worker is identified by NISS only for users allowed to
 * see it; otherwise by name and the registration's ONSS id.
 */

export interface CorrectionDocumentLine {
  requestId: number;
  state: string;
  onssRegistrationId: string | null;
  registrationSeq: number;
  registrationAt: string;
  registrationAtUtc: string;
  type: string;
  workerName: string | null;
  ssin?: string | null;
  siteId: string;
  siteName: string | null;
  field: string;
  registeredValue: string;
  requestedValue: string;
  reason: string;
  deadline: string;
  preparedAt: string;
  preparedBy: string;
  sentAt: string | null;
}

export function documentLines(items: Array<{ request: CorrectionRequest; registration: RegistrationRecord }>, canSeeNiss: boolean): CorrectionDocumentLine[] {
  return items.map(({ request: c, registration: r }) => ({
    requestId: c.id,
    state: c.state,
    onssRegistrationId: r.onssId,
    registrationSeq: r.seq,
    registrationAt: r.at,
    registrationAtUtc: r.atUtc,
    type: r.type,
    workerName: r.workerName,
    ...(canSeeNiss ? { ssin: r.ssin } : {}),
    siteId: r.siteId,
    siteName: r.siteName,
    field: c.field === 'employer' ? 'company number' : 'declaration number',
    registeredValue: c.currentValue,
    requestedValue: c.requestedValue,
    reason: c.reason,
    deadline: c.deadline,
    preparedAt: c.createdAt,
    preparedBy: c.createdBy,
    sentAt: c.sentAt,
  }));
}

const COLUMNS = ['requestId', 'state', 'onssRegistrationId', 'registrationSeq', 'registrationAt', 'registrationAtUtc', 'type', 'workerName', 'ssin', 'siteId', 'siteName', 'field', 'registeredValue', 'requestedValue', 'reason', 'deadline', 'preparedAt', 'preparedBy', 'sentAt'];

function esc(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function correctionDocument(lines: CorrectionDocumentLine[], format: 'csv' | 'json' | 'html', canSeeNiss: boolean, company?: string): { body: string; contentType: string; filename: string } {
  const stamp = lines.map((l) => l.requestId).join('-') || 'none';
  if (format === 'csv') {
    return { body: toCsv(COLUMNS.filter((c) => c !== 'ssin' || canSeeNiss), lines as unknown as Array<Record<string, unknown>>), contentType: 'text/csv; charset=utf-8', filename: `ciao-correction-${stamp}.csv` };
  }
  if (format === 'json') {
    return { body: JSON.stringify({ document: 'CIaO correction request (FAQ 36)', timeZone: 'Europe/Brussels', requests: lines }, null, 2), contentType: 'application/json; charset=utf-8', filename: `ciao-correction-${stamp}.json` };
  }
  const rows = lines.map((l) => `
  <section class="request">
    <h2>Demande n° ${esc(l.requestId)} / Aanvraag nr. ${esc(l.requestId)} <small>(${esc(l.state)})</small></h2>
    <table>
      <tr><th>Enregistrement / Registratie</th><td>${esc(l.type)} ${esc(siteTime(l.registrationAt))} (UTC ${esc(l.registrationAtUtc)}), n° ${esc(l.registrationSeq)}${l.onssRegistrationId ? `, ONSS/RSZ id ${esc(l.onssRegistrationId)}` : ''}</td></tr>
      <tr><th>Travailleur / Werknemer</th><td>${esc(l.workerName)}${canSeeNiss && l.ssin ? ` — NISS/INSZ ${esc(l.ssin)}` : ''}</td></tr>
      <tr><th>Lieu / Werf</th><td>${esc(l.siteName ?? l.siteId)}</td></tr>
      <tr><th>Donnée à corriger / Te verbeteren gegeven</th><td>${esc(l.field)}</td></tr>
      <tr><th>Valeur enregistrée / Geregistreerde waarde</th><td class="mono">${esc(l.registeredValue)}</td></tr>
      <tr><th>Valeur demandée / Gevraagde waarde</th><td class="mono">${esc(l.requestedValue)}</td></tr>
      <tr><th>Motif / Reden</th><td>${esc(l.reason)}</td></tr>
      <tr><th>À introduire au plus tard / Uiterlijk in te dienen</th><td>${esc(l.deadline)}</td></tr>
      <tr><th>Préparé / Voorbereid</th><td>${esc(l.preparedAt)} — ${esc(l.preparedBy)}</td></tr>
    </table>
  </section>`).join('\n');
  const body = `<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>CIaO — demande de correction / verbeteringsaanvraag</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#111}h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{width:34%;background:#f2f2f2}.mono{font-family:ui-monospace,monospace}.request{page-break-inside:avoid}
@media print{body{margin:1cm}}
</style></head><body>
<h1>Check IN and Out at Work — demande de correction / verbeteringsaanvraag</h1>
<p>${company ? `Entreprise / Onderneming : ${esc(company)}. ` : ''}Seul un numéro d'entreprise ou de déclaration erroné peut être corrigé, dans les 30 jours (FAQ 36). / Enkel een fout ondernemings- of aangiftenummer kan verbeterd worden, binnen 30 dagen (FAQ 36).</p>
${rows}
</body></html>
`;
  return { body, contentType: 'text/html; charset=utf-8', filename: `ciao-correction-${stamp}.html` };
}
