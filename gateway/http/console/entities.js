// One screen shape for every kind of site data: a list with search and paging, a form that checks as you
// type, a review of what the change will do, then the call. Each kind is described below.
import { useState } from 'preact/hooks';
import { html, useSession, useT, useLive, Field, Notice, problemFor, problemText, ApiError, focusOnce, ReleaseList } from './lib.js';
import { BadgeDetail, BadgeKind, SecureBadgeConsequence, WorkerBadges, secureBadgeConsequence } from './badges.js';
import { parseWorkerNumber } from './shared/identifiers/national-number.js';
import { parseCompanyId } from './shared/identifiers/company.js';
import { parseDeclarationNumber, parseLimosaId } from './shared/identifiers/declaration.js';
import { parseBadgeUid } from './shared/identifiers/badge.js';

const LANGUAGES = ['fr', 'nl', 'de', 'en'];
const CAPACITIES = ['employee', 'agency-worker', 'posted-worker', 'self-employed', 'helper', 'team-leader', 'trainer', 'trainee'];
const ROLES = ['administrator', 'site-manager', 'payroll', 'read-only'];

const checked = (r) => (r.ok ? null : r.problem);
const required = (field) => (v) => (v === undefined || v === null || String(v).trim() === '' ? { field, rule: 'required', message: `${field}: is required` } : null);
const optional = (check) => (v) => (v === undefined || v === null || String(v).trim() === '' ? null : check(v));
const list = (v) => (Array.isArray(v) ? v : String(v ?? '').split(/[,;|\s]+/)).map((x) => x.trim()).filter(Boolean);
const eachOf = (field, check) => (v) => {
  const items = list(v);
  if (!items.length) return { field, rule: 'required', message: `${field}: at least one is required` };
  for (const [i, x] of items.entries()) {
    const p = check(x, `${field}[${i}]`);
    if (p) return p;
  }
  return null;
};
const num = (v) => (v === '' || v === undefined || v === null ? undefined : Number(v));
const text = (v) => (v === '' || v === undefined || v === null ? undefined : String(v).trim());

export const ENTITIES = {
  companies: {
    key: 'id',
    columns: [['id', 'f_number'], ['name', 'f_name'], ['kind', 'f_kind']],
    fields: [
      { name: 'number', createOnly: true, required: true, validate: (v) => checked(parseCompanyId(v ?? '', 'number')) },
      { name: 'name', required: true, validate: required('name') },
    ],
    fromRecord: (r) => ({ number: r.id, name: r.name }),
    createBody: (v) => ({ number: v.number, name: v.name }),
    updateBody: (v) => ({ name: v.name }),
  },
  sites: {
    key: 'id',
    columns: [['id', 'f_id'], ['name', 'f_name'], ['language', 'f_language'], [(r) => (r.placeOfWork.address ? `${r.placeOfWork.address.streetName} ${r.placeOfWork.address.houseNumber}, ${r.placeOfWork.address.postCode} ${r.placeOfWork.address.municipalityName}` : `${r.placeOfWork.coordinates?.latitude}, ${r.placeOfWork.coordinates?.longitude}`), 'f_street'],
      [(r, t) => (r.requireSecureBadges ? html`<span class="tag kind-secure" data-secure-required>${t('secureRequired')}</span>` : '—'), 'f_secureBadges']],
    hint: 'addressOrCoords',
    // FAQ 31: the declaration's CIaO QR code, to show or print, when a terminal cannot register.
    rowLink: { label: 'fallbackQr', href: (r) => `#/fallback?site=${encodeURIComponent(r.id)}` },
    fields: [
      { name: 'id', createOnly: true, required: true, validate: (v) => (/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(v ?? '') ? null : { field: 'id', rule: 'format', message: 'id: letters, digits, - and _ (at most 64)' }) },
      { name: 'name', required: true, validate: required('name') },
      { name: 'language', options: LANGUAGES },
      { name: 'postCode', validate: optional((v) => (/^\d{4}$/.test(v) ? null : { field: 'postCode', rule: 'format', message: 'postCode: 4 digits' })) },
      { name: 'municipality' }, { name: 'street' }, { name: 'houseNumber' }, { name: 'box' },
      { name: 'latitude', type: 'number', validate: optional((v) => (Number(v) >= -90 && Number(v) <= 90 ? null : { field: 'latitude', rule: 'range', message: 'latitude: -90 to 90' })) },
      { name: 'longitude', type: 'number', validate: optional((v) => (Number(v) >= -180 && Number(v) <= 180 ? null : { field: 'longitude', rule: 'range', message: 'longitude: -180 to 180' })) },
      // Secure badges (NTAG 424 DNA): the review lists the UID-only badges this will flag.
      { name: 'requireSecureBadges', type: 'checkbox', hint: 'requireSecureHint' },
    ],
    fromRecord: (r) => ({ id: r.id, name: r.name, language: r.language, postCode: r.placeOfWork.address?.postCode, municipality: r.placeOfWork.address?.municipalityName, street: r.placeOfWork.address?.streetName, houseNumber: r.placeOfWork.address?.houseNumber, box: r.placeOfWork.address?.boxNumber, latitude: r.placeOfWork.coordinates?.latitude, longitude: r.placeOfWork.coordinates?.longitude, requireSecureBadges: !!r.requireSecureBadges }),
    defaults: { language: 'fr' },
    createBody: (v) => ({ id: v.id, ...siteBody(v) }),
    updateBody: (v) => siteBody(v),
    problemAliases: { postCode: ['address.postCode'], municipality: ['address.municipalityName'], street: ['address.streetName'], houseNumber: ['address.houseNumber'], latitude: ['coordinates.latitude', 'placeOfWork'], longitude: ['coordinates.longitude'] },
    consequence: secureBadgeConsequence,
    Consequence: SecureBadgeConsequence,
  },
  declarations: {
    key: 'number',
    columns: [['number', 'f_number'], ['siteId', 'f_siteId'], [(r) => `${r.validFrom} → ${r.validTo ?? '…'}`, 'f_validFrom'], [(r) => r.companies.join(' › '), 'f_companies']],
    fields: [
      { name: 'number', createOnly: true, required: true, validate: (v) => checked(parseDeclarationNumber(v ?? '', 'number')) },
      { name: 'siteId', required: true, options: 'sites', validate: required('siteId') },
      { name: 'validFrom', type: 'date', required: true, validate: required('validFrom') },
      { name: 'validTo', type: 'date' },
      { name: 'companies', required: true, list: true, validate: eachOf('company', (x, f) => checked(parseCompanyId(x, f))) },
      { name: 'ciaoUrl', type: 'url', validate: optional((v) => (/^https:\/\/\S+$/.test(v) && v.length <= 500 ? null : { field: 'ciaoUrl', rule: 'https-url', message: 'ciaoUrl: the https:// URL of the declaration’s CIaO QR code' })) },
    ],
    fromRecord: (r) => ({ number: r.number, siteId: r.siteId, validFrom: r.validFrom, validTo: r.validTo, companies: r.companies.join(', '), ciaoUrl: r.ciaoUrl }),
    createBody: (v) => ({ number: v.number, ...declBody(v) }),
    updateBody: (v) => declBody(v),
    // A declaration added (or its dates widened) sends the taps held for want of it.
    preview: (v, record) => ({ path: 'declarations/preview', body: { number: record?.number ?? v.number, ...declBody(v) } }),
    problemAliases: { siteId: ['site'], validFrom: ['from'], validTo: ['to'], companies: ['company'] },
  },
  workers: {
    key: 'id',
    columns: [['name', 'f_name'], ['niss', 'f_niss'], ['limosaId', 'f_limosa'], ['capacity', 'f_capacity'], [(r) => r.employers.join(', '), 'f_employers']],
    fields: [
      { name: 'niss', createOnly: true, validate: optional((v) => checked(parseWorkerNumber(v, 'niss'))) },
      { name: 'limosa', createOnly: true, validate: optional((v) => checked(parseLimosaId(v, 'limosa'))) },
      { name: 'name', required: true, validate: required('name') },
      { name: 'capacity', options: CAPACITIES },
      { name: 'employers', required: true, list: true, validate: eachOf('employer', (x, f) => checked(parseCompanyId(x, f))) },
    ],
    fromRecord: (r) => ({ niss: r.niss, limosa: r.limosaId, name: r.name, capacity: r.capacity, employers: r.employers.join(', ') }),
    defaults: { capacity: 'employee' },
    createBody: (v) => ({ niss: text(v.niss), limosa: text(v.limosa), name: v.name, capacity: v.capacity, employers: list(v.employers) }),
    updateBody: (v) => ({ name: v.name, capacity: v.capacity, employers: list(v.employers) }),
    // A worker's employers set: the taps held for want of a choice are sent.
    preview: (v, record) => (record ? { path: `workers/${encodeURIComponent(record.id)}/preview`, body: { name: v.name, capacity: v.capacity, employers: list(v.employers) } } : null),
    problemAliases: { employers: ['employer'] },
    deactivateWarn: 'workerDeactivateWarn',
    // The worker's badges with their kind, and the desk reader's "Personalise a blank secure badge".
    Detail: WorkerBadges,
  },
  badges: {
    key: 'uid',
    columns: [['uid', 'f_uid'], [(r) => html`<${BadgeKind} kind=${r.kind} keyVersion=${r.keyVersion} />`, 'f_badgeKind'], [(r) => r.workerName ?? r.workerId, 'f_worker'], [(r) => `${r.validFrom} → ${r.validTo ?? '…'}`, 'f_validFrom'], [(r) => r.revokedReason ?? '', 'f_reason']],
    fields: [
      { name: 'uid', createOnly: true, required: true, validate: (v) => checked(parseBadgeUid(v ?? '', 'uid')) },
      { name: 'worker', required: true, options: 'workers', validate: required('worker') },
      { name: 'validFrom', type: 'date' },
      { name: 'validTo', type: 'date' },
    ],
    fromRecord: (r) => ({ uid: r.uid, worker: r.workerId, validFrom: r.validFrom, validTo: r.validTo }),
    createBody: (v) => ({ uid: v.uid, worker: v.worker, validFrom: text(v.validFrom), validTo: text(v.validTo) }),
    updateBody: (v) => ({ worker: v.worker, validFrom: text(v.validFrom), validTo: text(v.validTo) ?? null }),
    // A badge enrolled or its validity widened: the taps it made while unknown or not yet valid are sent.
    preview: (v, record) => ({ path: 'badges/preview', body: { uid: record?.uid ?? v.uid, worker: v.worker, validFrom: text(v.validFrom), validTo: text(v.validTo) ?? null } }),
    problemAliases: { validFrom: ['from'], validTo: ['to'] },
    deactivateLabel: 'revoke', deactivateWarn: 'revokeWarn', noReactivate: true,
    Detail: BadgeDetail,
  },
  // FAQ 26: an agency worker registers under the agency's number where the user company is on the chain.
  placements: {
    key: 'id',
    columns: [[(r) => r.workerName ?? r.workerId, 'f_worker'], ['agencyId', 'f_agency'], ['userCompanyId', 'f_userCompany'], [(r) => `${r.validFrom} → ${r.validTo ?? '…'}`, 'f_validFrom']],
    hint: 'placementHint',
    fields: [
      { name: 'worker', required: true, options: 'workers', validate: required('worker') },
      { name: 'agency', required: true, validate: (v) => checked(parseCompanyId(v ?? '', 'agency')) },
      { name: 'userCompany', required: true, validate: (v) => checked(parseCompanyId(v ?? '', 'userCompany')) },
      { name: 'validFrom', type: 'date', required: true, validate: required('validFrom') },
      { name: 'validTo', type: 'date' },
    ],
    fromRecord: (r) => ({ worker: r.workerId, agency: r.agencyId, userCompany: r.userCompanyId, validFrom: r.validFrom, validTo: r.validTo }),
    createBody: (v) => placementBody(v),
    updateBody: (v) => placementBody(v),
    preview: (v, record) => ({ path: 'placements/preview', body: { ...(record ? { id: record.id } : {}), ...placementBody(v) } }),
    problemAliases: { validFrom: ['from'], validTo: ['to'] },
  },
  users: {
    key: 'id',
    columns: [['name', 'f_name'], [(r, t) => t(`r_${r.role}`), 'f_role'], ['company', 'f_company'], [(r) => (r.sites ?? ['*']).join(', '), 'f_sites']],
    fields: [
      { name: 'name', required: true, validate: required('name') },
      { name: 'role', options: ROLES, labels: (t) => (v) => t(`r_${v}`) },
      { name: 'company', validate: optional((v) => checked(parseCompanyId(v, 'company'))) },
      { name: 'sites', list: true },
      { name: 'canSeeNiss', type: 'checkbox' },
    ],
    fromRecord: (r) => ({ name: r.name, role: r.role, company: r.company, sites: (r.sites ?? []).join(', '), canSeeNiss: r.canSeeNiss && r.role !== 'payroll' && r.role !== 'administrator' }),
    defaults: { role: 'site-manager' },
    createBody: (v) => userBody(v),
    updateBody: (v) => userBody(v),
    noReactivate: true,
  },
};

function siteBody(v) {
  const b = { name: v.name, language: v.language, postCode: text(v.postCode), municipality: text(v.municipality), street: text(v.street), houseNumber: text(v.houseNumber), box: text(v.box), latitude: num(v.latitude), longitude: num(v.longitude), requireSecureBadges: !!v.requireSecureBadges };
  return Object.fromEntries(Object.entries(b).filter(([, x]) => x !== undefined));
}
function declBody(v) {
  return { siteId: v.siteId, validFrom: v.validFrom, validTo: text(v.validTo) ?? null, companies: list(v.companies), ciaoUrl: text(v.ciaoUrl) ?? null };
}
function placementBody(v) {
  return { worker: v.worker, agency: v.agency, userCompany: v.userCompany, validFrom: v.validFrom, validTo: text(v.validTo) ?? null };
}
function userBody(v) {
  return { name: v.name, role: v.role, company: text(v.company) ?? null, sites: list(v.sites), canSeeNiss: !!v.canSeeNiss };
}

function cell(r, col, t) {
  const [k] = col;
  const v = typeof k === 'function' ? k(r, t) : r[k];
  if (v !== null && typeof v === 'object') return v; // markup (a badge's kind)
  return v === null || v === undefined ? '—' : String(v);
}

/** A value in the review's before/after table (a checkbox reads yes or no). */
function shown(v, t) {
  if (typeof v === 'boolean') return t(v ? 'yes' : 'no');
  return v === undefined || v === null || v === '' ? '—' : String(v);
}

/** Options for a select: a fixed list, or the records of another kind (sites, workers). */
function useOptions(kind, api) {
  const [opts, setOpts] = useState(null);
  useLive(['site-data'], () => {
    if (kind === 'sites') api('sites?limit=500').then((p) => setOpts(p.items.map((s) => ({ value: s.id, label: `${s.name} (${s.id})` })))).catch(() => setOpts([]));
    if (kind === 'workers') api('workers?limit=500').then((p) => setOpts(p.items.map((w) => ({ value: w.id, label: `${w.name} (${w.id})` })))).catch(() => setOpts([]));
  }, [kind]);
  return opts;
}

function FieldFor({ def, field, values, setValue, problems, t, api }) {
  const dynamic = typeof field.options === 'string' ? useOptions(field.options, api) : null;
  let options;
  if (Array.isArray(field.options)) {
    const label = field.labels ? field.labels(t) : (v) => v;
    options = field.options.map((v) => ({ value: v, label: label(v) }));
  } else if (dynamic) options = [{ value: '', label: '—' }, ...dynamic];
  return html`<${Field} name=${field.name} label=${t(`f_${field.name}`)} value=${values[field.name]} type=${field.type ?? 'text'}
    required=${field.required} options=${options} hint=${field.list ? t('listHint') : field.hint ? t(field.hint) : undefined}
    validate=${field.validate} serverProblem=${problemFor(problems, field.name, def.problemAliases?.[field.name] ?? [])}
    onInput=${(v) => setValue(field.name, v)} />`;
}

export function EntityScreen({ kind }) {
  const session = useSession();
  const t = useT();
  const def = ENTITIES[kind];
  const api = session.api;
  const canWrite = kind === 'users' ? session.may('manage-users') : session.may('change-site-data');
  const [q, setQ] = useState('');
  const [offset, setOffset] = useState(0);
  const [inactive, setInactive] = useState(false);
  const [page, setPage] = useState(null);
  const [mode, setMode] = useState({ view: 'list' });
  const [values, setValues] = useState({});
  const [problems, setProblems] = useState([]);
  const [notice, setNotice] = useState(null);
  const limit = 20;

  const load = () => api(`${kind}?limit=${limit}&offset=${offset}&inactive=${inactive}${q ? `&q=${encodeURIComponent(q)}` : ''}`).then(setPage).catch((e) => setNotice({ kind: 'error', text: e.message }));
  useLive(['site-data', 'audit'], load, [kind, q, offset, inactive]);

  const open = (record) => {
    setValues(record ? def.fromRecord(record) : { ...(def.defaults ?? {}) });
    setProblems([]);
    setNotice(null);
    setMode({ view: 'form', record });
  };
  const setValue = (k, v) => setValues((old) => ({ ...old, [k]: v }));
  const fields = def.fields.filter((f) => !(mode.record && f.createOnly));
  const localProblems = () => fields.map((f) => f.validate?.(values[f.name])).filter(Boolean);

  const review = async (e) => {
    e.preventDefault();
    const found = localProblems();
    if (found.length) {
      setProblems(found);
      setNotice({ kind: 'error', text: t('fixErrors') });
      return;
    }
    const before = mode.record ? def.fromRecord(mode.record) : {};
    const changes = fields.map((f) => [f.name, before[f.name], values[f.name]]).filter(([, a, b]) => String(a ?? '') !== String(b ?? ''));
    // Which held taps this change would send late: asked before the review, so confirming is informed.
    let release = null;
    const p = def.preview?.(values, mode.record);
    let consequence = null;
    try {
      if (p) release = (await api(p.path, { method: 'POST', body: p.body })).heldTaps;
      // What else the change does, shown before it is confirmed (a site's secure-badge rule: the badges it flags).
      if (def.consequence) consequence = await def.consequence(api, values, mode.record);
    } catch (err) {
      setProblems(err instanceof ApiError ? err.problems : []);
      setNotice({ kind: 'error', text: problemText(err, t) });
      return;
    }
    setMode({ ...mode, view: 'review', action: mode.record ? 'update' : 'create', changes, release, consequence });
  };

  const run = async () => {
    try {
      let result;
      if (mode.action === 'create') result = await api(kind, { method: 'POST', body: def.createBody(values) });
      else if (mode.action === 'update') result = await api(`${kind}/${encodeURIComponent(mode.record[def.key])}`, { method: 'PATCH', body: def.updateBody(values) });
      else result = await api(`${kind}/${encodeURIComponent(mode.record[def.key])}/${mode.action}${mode.action === 'deactivate' && kind === 'badges' ? '?reason=revoked%20in%20the%20console' : ''}`, { method: 'POST' });
      setMode({ view: 'list' });
      setNotice({ kind: 'ok', text: result?.token ? html`${t('token_once')} <code data-token>${result.token}</code>` : t('saved') });
      load();
    } catch (err) {
      const ps = err instanceof ApiError ? err.problems : [];
      setProblems(ps);
      setNotice({ kind: 'error', text: problemText(err, t) });
      setMode({ ...mode, view: mode.action === 'create' || mode.action === 'update' ? 'form' : 'list' });
    }
  };

  const what = t(`what_${kind}`);
  if (mode.view === 'review') {
    const id = mode.record?.[def.key] ?? values[def.fields[0].name];
    return html`<section aria-labelledby="review-title" class="review">
      <h2 id="review-title" tabindex="-1" ref=${focusOnce}>${t('reviewTitle')}</h2>
      ${mode.action === 'create' || mode.action === 'update' ? html`
        <p>${t(mode.action === 'create' ? 'reviewCreate' : 'reviewUpdate', { what })} <strong>${id}</strong></p>
        ${mode.changes.length ? html`<table class="changes"><thead><tr><th scope="col">${t('field')}</th><th scope="col">${t('before')}</th><th scope="col">${t('after')}</th></tr></thead>
          <tbody>${mode.changes.map(([k, a, b]) => html`<tr data-change=${k}><th scope="row">${t(`f_${k}`)}</th><td>${shown(a, t)}</td><td>${shown(b, t)}</td></tr>`)}</tbody></table>` : html`<p>${t('unchanged')}</p>`}
        <${ReleaseList} taps=${mode.release} />
        ${def.Consequence ? html`<${def.Consequence} data=${mode.consequence} />` : ''}
      ` : html`<p class="warn">${mode.action === 'deactivate' ? t(def.deactivateWarn ?? 'deactivateWarn', { what, id }) : t('reactivate')}</p>`}
      <div class="actions">
        <button type="button" class="primary" onClick=${run} data-action="confirm">${t('confirm')}</button>
        <button type="button" onClick=${() => setMode({ ...mode, view: mode.action === 'create' || mode.action === 'update' ? 'form' : 'list' })}>${t('back')}</button>
      </div>
    </section>`;
  }

  if (mode.view === 'form') {
    const active = !mode.record || !(mode.record.deactivatedAt || mode.record.revokedAt || mode.record.disabled);
    return html`<section aria-labelledby="form-title">
      <h2 id="form-title" tabindex="-1" ref=${focusOnce}>${mode.record ? `${t('edit')}: ${mode.record[def.key]}` : `${t('new')}: ${what}`}</h2>
      <${Notice} kind=${notice?.kind}>${notice?.text}<//>
      ${def.hint ? html`<p class="hint">${t(def.hint)}</p>` : ''}
      <form onSubmit=${review} novalidate>
        ${fields.map((f) => html`<${FieldFor} def=${def} field=${f} values=${values} setValue=${setValue} problems=${problems} t=${t} api=${api} />`)}
        <div class="actions">
          <button type="submit" class="primary" disabled=${!canWrite}>${t('review')}</button>
          <button type="button" onClick=${() => setMode({ view: 'list' })}>${t('cancel')}</button>
          ${mode.record && canWrite ? (active
            ? html`<button type="button" class="danger" onClick=${() => setMode({ ...mode, view: 'review', action: 'deactivate' })}>${t(def.deactivateLabel ?? 'deactivate')}</button>`
            : def.noReactivate ? '' : html`<button type="button" onClick=${() => setMode({ ...mode, view: 'review', action: 'reactivate' })}>${t('reactivate')}</button>`) : ''}
        </div>
      </form>
      ${mode.record && def.Detail ? html`<${def.Detail} record=${mode.record} />` : ''}
    </section>`;
  }

  const from = page ? Math.min(page.offset + 1, page.total) : 0;
  const to = page ? page.offset + page.items.length : 0;
  return html`<section aria-labelledby="list-title">
    <div class="bar">
      <h2 id="list-title">${t(kind)}</h2>
      ${canWrite ? html`<button type="button" class="primary" onClick=${() => open(null)} data-action="new">${t('new')}</button>` : html`<p class="hint">${t('readOnlyNote')}</p>`}
    </div>
    <${Notice} kind=${notice?.kind}>${notice?.text}<//>
    <div class="filters">
      <label>${t('search')} <input type="search" value=${q} onInput=${(e) => { setQ(e.currentTarget.value); setOffset(0); }} name="q" /></label>
      <label class="check"><input type="checkbox" checked=${inactive} onChange=${(e) => setInactive(e.currentTarget.checked)} /> ${t('showInactive')}</label>
    </div>
    <div class="table-wrap"><table class="list" data-kind=${kind}>
      <thead><tr>${def.columns.map(([, label]) => html`<th scope="col">${t(label)}</th>`)}<th scope="col"><span class="sr-only">${t('edit')}</span></th></tr></thead>
      <tbody>${page && page.items.length ? page.items.map((r) => html`<tr data-id=${r[def.key]} class=${r.deactivatedAt || r.revokedAt || r.revokedAt === undefined && r.disabled ? 'inactive' : ''}>
        ${def.columns.map((c, i) => html`<td data-label=${t(c[1])}>${i === 0 && (r.deactivatedAt || r.revokedAt) ? html`${cell(r, c, t)} <span class="tag">${t('inactive')}</span>` : cell(r, c, t)}</td>`)}
        <td><div class="row-actions"><button type="button" onClick=${() => open(r)} aria-label=${`${t(canWrite ? 'edit' : 'review')} ${r[def.key]}`}>${t(canWrite ? 'edit' : 'review')}</button>
          ${def.rowLink ? html`<a href=${def.rowLink.href(r)} aria-label=${`${t(def.rowLink.label)} ${r[def.key]}`} data-row-link=${def.rowLink.label}>${t(def.rowLink.label)}</a>` : ''}</div></td>
      </tr>`) : html`<tr><td colspan=${def.columns.length + 1}>${t('none')}</td></tr>`}</tbody>
    </table></div>
    ${page ? html`<nav class="pager" aria-label=${t('pageOf', { from, to, total: page.total })}>
      <button type="button" disabled=${page.offset === 0} onClick=${() => setOffset(Math.max(0, page.offset - limit))}>${t('previous')}</button>
      <span>${t('pageOf', { from, to, total: page.total })}</span>
      <button type="button" disabled=${to >= page.total} onClick=${() => setOffset(page.offset + limit)}>${t('next')}</button>
    </nav>` : ''}
  </section>`;
}
