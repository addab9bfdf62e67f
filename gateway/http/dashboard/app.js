// The site manager's dashboard: plain JS over the admin API (/api/v1), no build step.
// It only reads, and prepares correction requests: it cannot create or delete a registration.
'use strict';

const I18N = {
  fr: {
    title: 'CIaO — chantiers', language: 'Langue', logout: 'Se déconnecter', loginTitle: 'Connexion', loginHelp: 'Collez le jeton reçu avec « ciao admin user add ».',
    token: 'Jeton', login: 'Se connecter', tabOverview: "Vue d'ensemble", tabRegistrations: 'Enregistrements', tabRemarks: 'Remarques', tabOutages: 'Journal des pannes',
    tabExport: 'Export', tabCorrections: 'Corrections', terminals: 'Terminaux', terminal: 'Terminal', site: 'Chantier', state: 'État', lastSeen: 'Vu pour la dernière fois',
    queued: 'En attente', skew: 'Dérive', presenceNow: 'Présents maintenant', worker: 'Travailleur', since: 'Depuis', openRemarks: 'Remarques ouvertes', from: 'Du', to: 'Au',
    company: 'Entreprise', declaration: 'Déclaration', show: 'Afficher', time: 'Heure', type: 'Type', niss: 'NISS', onss: 'ONSS', timeline: 'Journée', work: 'travail', break: 'pause',
    open: 'sans OUT', scope: 'Portée', cause: 'Cause', exportHelp: 'Au plus 100 jours calendrier par export (FAQ 39).', format: 'Format', download: 'Télécharger',
    newCorrection: 'Préparer une demande de correction', correctionHelp: "Seul un numéro d'entreprise ou de déclaration erroné peut être corrigé, dans les 30 jours (FAQ 36). L'enregistrement d'origine reste tel quel.",
    registration: 'Enregistrement n°', field: 'Donnée', employerNumber: "numéro d'entreprise", declarationNumber: 'numéro de déclaration', requestedValue: 'Valeur correcte', reason: 'Motif',
    prepare: 'Préparer', registeredValue: 'Enregistré', deadline: 'Au plus tard', allSites: 'Tous les chantiers', online: 'en ligne', offline: 'hors ligne', cannotRegister: 'ne peut pas enregistrer', 'never-seen': 'jamais vu',
    working: 'au travail', 'on-break': 'en pause', none: 'Aucune', nobody: 'Personne', noRows: 'Aucun enregistrement', exported: '{n} enregistrements exportés dans {f}',
    markSent: 'Envoyée', correct: 'corriger', accept: 'Acceptée', refuse: 'Refusée', document: 'Document', showDay: 'journée', correctableUntil: "corrigeable jusqu'au {d}", missing: 'Données pas encore disponibles sur cette passerelle : {m}',
    draft: 'brouillon', sent: 'envoyée', accepted: 'acceptée', refused: 'refusée', pending: 'en attente', 'in-flight': 'en cours', created: 'créé', 'not-created': 'refusé',
    badge: 'Badge', 'badgeKind_secure': 'sécurisé', 'badgeKind_uid-only': 'UID seul', badgeKeyVersion: 'clés v{v}',
    kinds: { 'double-in': 'Double IN', 'out-without-in': 'OUT sans IN', 'missing-out': 'OUT manquant', 'unknown-badge': 'Badge inconnu', 'revoked-badge': 'Badge révoqué', 'employer-not-on-declaration': 'Employeur absent de la déclaration', 'employer-choice-missing': "Choix d'employeur manquant", 'clock-skew': 'Horloge du terminal', 'late-transmission': 'Transmission tardive', 'not-created-by-onss': "Non créé par l'ONSS", 'onss-remark': "Remarque de l'ONSS", 'correction-deadline': 'Délai de correction', 'possible-badge-copy': 'Copie possible du badge', 'badge-key-missing': 'Clés du badge absentes', 'uid-only-badge': 'Badge non sécurisé' },
  },
  nl: {
    title: 'CIaO — werven', language: 'Taal', logout: 'Afmelden', loginTitle: 'Aanmelden', loginHelp: 'Plak het token dat u kreeg met "ciao admin user add".',
    token: 'Token', login: 'Aanmelden', tabOverview: 'Overzicht', tabRegistrations: 'Registraties', tabRemarks: 'Opmerkingen', tabOutages: 'Storingslogboek',
    tabExport: 'Export', tabCorrections: 'Verbeteringen', terminals: 'Terminals', terminal: 'Terminal', site: 'Werf', state: 'Toestand', lastSeen: 'Laatst gezien',
    queued: 'In wachtrij', skew: 'Afwijking', presenceNow: 'Nu aanwezig', worker: 'Werknemer', since: 'Sinds', openRemarks: 'Open opmerkingen', from: 'Van', to: 'Tot',
    company: 'Onderneming', declaration: 'Aangifte', show: 'Tonen', time: 'Tijd', type: 'Type', niss: 'INSZ', onss: 'RSZ', timeline: 'Dagverloop', work: 'werk', break: 'pauze',
    open: 'zonder OUT', scope: 'Bereik', cause: 'Oorzaak', exportHelp: 'Hoogstens 100 kalenderdagen per export (FAQ 39).', format: 'Formaat', download: 'Downloaden',
    newCorrection: 'Verbeteringsaanvraag voorbereiden', correctionHelp: 'Enkel een fout ondernemings- of aangiftenummer kan verbeterd worden, binnen 30 dagen (FAQ 36). De oorspronkelijke registratie blijft ongewijzigd.',
    registration: 'Registratie nr.', field: 'Gegeven', employerNumber: 'ondernemingsnummer', declarationNumber: 'aangiftenummer', requestedValue: 'Juiste waarde', reason: 'Reden',
    prepare: 'Voorbereiden', registeredValue: 'Geregistreerd', deadline: 'Uiterlijk', allSites: 'Alle werven', online: 'online', offline: 'offline', 'never-seen': 'nooit gezien', cannotRegister: 'kan niet registreren',
    working: 'aan het werk', 'on-break': 'met pauze', none: 'Geen', nobody: 'Niemand', noRows: 'Geen registraties', exported: '{n} registraties geëxporteerd naar {f}',
    markSent: 'Verstuurd', correct: 'verbeteren', accept: 'Aanvaard', refuse: 'Geweigerd', document: 'Document', showDay: 'dag', correctableUntil: 'te verbeteren tot {d}', missing: 'Gegevens nog niet beschikbaar op deze gateway: {m}',
    draft: 'ontwerp', sent: 'verstuurd', accepted: 'aanvaard', refused: 'geweigerd', pending: 'wachtend', 'in-flight': 'onderweg', created: 'aangemaakt', 'not-created': 'geweigerd',
    badge: 'Badge', 'badgeKind_secure': 'beveiligd', 'badgeKind_uid-only': 'enkel UID', badgeKeyVersion: 'sleutels v{v}',
    kinds: { 'double-in': 'Dubbele IN', 'out-without-in': 'OUT zonder IN', 'missing-out': 'Ontbrekende OUT', 'unknown-badge': 'Onbekende badge', 'revoked-badge': 'Ingetrokken badge', 'employer-not-on-declaration': 'Werkgever niet op de aangifte', 'employer-choice-missing': 'Werkgeverskeuze ontbreekt', 'clock-skew': 'Klok van de terminal', 'late-transmission': 'Laattijdige verzending', 'not-created-by-onss': 'Niet aangemaakt door de RSZ', 'onss-remark': 'Opmerking van de RSZ', 'correction-deadline': 'Verbeteringstermijn', 'possible-badge-copy': 'Mogelijke kopie van de badge', 'badge-key-missing': 'Badgesleutels ontbreken', 'uid-only-badge': 'Onbeveiligde badge' },
  },
  en: {
    title: 'CIaO — sites', language: 'Language', logout: 'Log out', loginTitle: 'Log in', loginHelp: 'Paste the token you received from "ciao admin user add".',
    token: 'Token', login: 'Log in', tabOverview: 'Overview', tabRegistrations: 'Registrations', tabRemarks: 'Remarks', tabOutages: 'Outage journal',
    tabExport: 'Export', tabCorrections: 'Corrections', terminals: 'Terminals', terminal: 'Terminal', site: 'Site', state: 'State', lastSeen: 'Last seen',
    queued: 'Queued', skew: 'Skew', presenceNow: 'On site now', worker: 'Worker', since: 'Since', openRemarks: 'Open remarks', from: 'From', to: 'To',
    company: 'Company', declaration: 'Declaration', show: 'Show', time: 'Time', type: 'Type', niss: 'NISS', onss: 'ONSS', timeline: 'Day', work: 'work', break: 'break',
    open: 'no OUT', scope: 'Scope', cause: 'Cause', exportHelp: 'At most 100 calendar days per export (FAQ 39).', format: 'Format', download: 'Download',
    newCorrection: 'Prepare a correction request', correctionHelp: 'Only a wrong company or declaration number can be corrected, within 30 days (FAQ 36). The original registration stays as it is.',
    registration: 'Registration #', field: 'Field', employerNumber: 'company number', declarationNumber: 'declaration number', requestedValue: 'Correct value', reason: 'Reason',
    prepare: 'Prepare', registeredValue: 'Registered', deadline: 'Deadline', allSites: 'All sites', online: 'online', offline: 'offline', 'never-seen': 'never seen', cannotRegister: 'cannot register',
    working: 'working', 'on-break': 'on break', none: 'None', nobody: 'Nobody', noRows: 'No registrations', exported: '{n} registrations exported to {f}',
    markSent: 'Sent', correct: 'correct', accept: 'Accepted', refuse: 'Refused', document: 'Document', showDay: 'day', correctableUntil: 'correctable until {d}', missing: 'Data not available on this gateway yet: {m}',
    draft: 'draft', sent: 'sent', accepted: 'accepted', refused: 'refused', pending: 'pending', 'in-flight': 'in flight', created: 'created', 'not-created': 'not created',
    badge: 'Badge', 'badgeKind_secure': 'secure', 'badgeKind_uid-only': 'UID-only', badgeKeyVersion: 'key version {v}',
    kinds: { 'double-in': 'Double IN', 'out-without-in': 'OUT without IN', 'missing-out': 'Missing OUT', 'unknown-badge': 'Unknown badge', 'revoked-badge': 'Revoked badge', 'employer-not-on-declaration': 'Employer not on the declaration', 'employer-choice-missing': 'Employer choice missing', 'clock-skew': 'Terminal clock', 'late-transmission': 'Late transmission', 'not-created-by-onss': 'Not created by ONSS', 'onss-remark': 'Remark from ONSS', 'correction-deadline': 'Correction deadline', 'possible-badge-copy': 'Possible copy of a badge', 'badge-key-missing': 'Badge keys missing', 'uid-only-badge': 'UID-only badge' },
  },
};

const state = {
  lang: localStorage.getItem('ciao.lang') || (navigator.language || 'fr').slice(0, 2),
  token: sessionStorage.getItem('ciao.token') || '',
  me: null,
  tab: 'overview',
  timer: null,
};
if (!I18N[state.lang]) state.lang = 'fr';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const t = (key, vars = {}) => String(I18N[state.lang][key] ?? I18N.en[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? '');

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return node;
}

function localTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(state.lang === 'en' ? 'en-GB' : `${state.lang}-BE`, { timeZone: 'Europe/Brussels', dateStyle: 'short', timeStyle: 'short' });
}

function todayLocal(offsetDays = 0) {
  const d = new Date(Date.now() + offsetDays * 86400000);
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Brussels' }).format(d);
}

class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title);
    this.problem = problem;
  }
}

async function api(path, { method = 'GET', body, raw = false } = {}) {
  const res = await fetch(`/api/v1/${path}`, {
    method,
    headers: { authorization: `Bearer ${state.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) {
    let problem;
    try { problem = await res.json(); } catch { problem = { title: res.statusText, status: res.status, problems: [] }; }
    if (res.status === 401) logout();
    throw new ApiError(problem);
  }
  return raw ? res : res.json();
}

function problemText(err) {
  if (err instanceof ApiError && err.problem.problems?.length) return err.problem.problems.map((p) => `${p.message} [${p.rule}]`).join('\n');
  return err.message;
}

function query(form) {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v !== '') params.set(k, v);
  return params;
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  $('#lang').value = state.lang;
  for (const node of $$('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  document.title = t('title');
}

// ---- session ----
async function login(token) {
  state.token = token;
  const me = await api('me');
  state.me = me;
  sessionStorage.setItem('ciao.token', token);
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#logout').hidden = false;
  $('#who').textContent = `${me.name} (${me.role})`;
  document.body.classList.toggle('no-niss', !me.canSeeNiss);
  for (const th of $$('th.niss')) th.hidden = !me.canSeeNiss;
  for (const sel of $$('.siteSelect')) {
    sel.replaceChildren(el('option', { value: '' }, t('allSites')), ...me.sites.map((s) => el('option', { value: s.id }, s.name)));
  }
  const missing = $('#missing');
  missing.hidden = !me.missingSources?.length;
  missing.textContent = me.missingSources?.length ? t('missing', { m: me.missingSources.join(', ') }) : '';
  for (const f of ['#regForm', '#exportForm']) {
    $(`${f} [name=from]`).value = todayLocal(-6);
    $(`${f} [name=to]`).value = todayLocal();
  }
  showTab(state.tab);
}

function logout() {
  state.token = '';
  state.me = null;
  sessionStorage.removeItem('ciao.token');
  clearInterval(state.timer);
  $('#app').hidden = true;
  $('#login').hidden = false;
  $('#logout').hidden = true;
  $('#who').textContent = '';
}

// ---- tabs ----
function showTab(tab) {
  state.tab = tab;
  for (const b of $$('#tabs button')) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  for (const p of $$('[data-panel]')) p.hidden = p.dataset.panel !== tab;
  clearInterval(state.timer);
  overviewTicks = 0;
  const refresh = { overview: refreshOverview, remarks: refreshRemarks, outages: refreshOutages, corrections: refreshCorrections }[tab];
  if (refresh) {
    refresh().catch(showFatal);
    if (tab === 'overview') state.timer = setInterval(() => refresh().catch(showFatal), 2000);
    if (tab === 'remarks') state.timer = setInterval(() => refresh().catch(showFatal), 6000);
  }
  if (tab === 'registrations') loadRegistrations().catch((e) => ($('#regError').textContent = problemText(e)));
}

function showFatal(err) {
  console.error(err);
}

// ---- overview ----
function stateChip(s) {
  return el('span', { class: `state ${s}`, 'data-state': s }, t(s));
}

// Terminals and presence are cheap and refresh every 2 s; remarks are recomputed over 31 days, so every 6 s.
let overviewTicks = 0;
async function refreshOverview() {
  const withRemarks = overviewTicks++ % 3 === 0;
  const [terms, pres, rem] = await Promise.all([api('terminals?limit=500&inactive=true'), api('presence'), withRemarks ? api('remarks') : null]);
  $('#terminals tbody').replaceChildren(...terms.terminals.map((x) => el('tr', { 'data-terminal': x.terminalId },
    el('td', { class: 'mono' }, x.terminalId), el('td', {}, x.siteName ?? x.siteId ?? '—'), el('td', {}, stateChip(x.state), ...(x.cannotRegister?.length ? [' ', el('span', { class: 'tag warn', 'data-cannot-register': x.cannotRegister.join(',') }, `${t('cannotRegister')}: ${x.cannotRegister.join(', ')}`)] : [])),
    el('td', {}, localTime(x.lastSeen)), el('td', {}, x.queued ?? '—'),
    el('td', { class: x.skewMs !== null && Math.abs(x.skewMs) > 60000 ? 'skew-bad' : '' }, x.skewMs === null ? '—' : `${(x.skewMs / 1000).toFixed(1)} s`))));
  $('#presence tbody').replaceChildren(...(pres.presence.length ? pres.presence.map((p) => el('tr', {},
    el('td', {}, p.siteName ?? p.siteId), el('td', {}, p.workerName ?? p.workerId), el('td', {}, stateChip(p.state)), el('td', {}, localTime(p.since)))) : [el('tr', {}, el('td', { colspan: '4' }, t('nobody')))]));
  if (!rem) return;
  renderRemarks($('#remarkSummary'), rem.remarks, false);
  const count = $('#remarkCount');
  count.textContent = String(rem.count);
  count.classList.toggle('zero', rem.count === 0);
}

/** A badge's kind: `secure` (NTAG 424 DNA, its message verified; with the key version) or `uid-only`. */
function badgeKindTag(kind, keyVersion) {
  if (!kind) return '';
  return el('span', { class: `tag kind-${kind}`, 'data-badge-kind': kind }, `${t(`badgeKind_${kind}`)}${kind === 'secure' && keyVersion ? ` · ${t('badgeKeyVersion', { v: keyVersion })}` : ''}`);
}

function renderRemarks(list, remarks, detailed) {
  if (!remarks.length) {
    list.replaceChildren(el('li', { class: 'sev-info' }, t('none')));
    return;
  }
  list.replaceChildren(...remarks.map((r) => el('li', { class: `sev-${r.severity}`, 'data-kind': r.kind, 'data-id': r.id },
    el('span', { class: 'kind' }, I18N[state.lang].kinds[r.kind] ?? r.kind),
    el('span', { class: 'meta' }, `${r.day}${r.siteId ? ` · ${r.siteName ?? r.siteId}` : ''}${r.workerId ? ` · ${r.workerName ?? r.workerId}` : ''}${r.terminalId ? ` · ${r.terminalId}` : ''}${r.seq ? ` · #${r.seq}` : ''}${r.correctableUntil ? ` · ${t('correctableUntil', { d: r.correctableUntil })}` : ''}`),
    r.badge ? el('span', { class: 'badge-of', 'data-remark-badge': r.badge.uid }, ' ', el('span', { class: 'mono' }, r.badge.uid), ' ', badgeKindTag(r.badge.kind, r.badge.keyVersion)) : '',
    el('div', { class: 'message' }, r.message[state.lang]),
    el('p', { class: 'advice' }, r.advice[state.lang]),
    detailed && r.workerId ? el('button', { class: 'link', onclick: () => openTimeline(r.workerId, r.day) }, t('showDay')) : '')));
}

async function refreshRemarks() {
  const q = query($('#remarkForm'));
  const rem = await api(`remarks?${q}`);
  renderRemarks($('#remarks'), rem.remarks, true);
}

async function refreshOutages() {
  const o = await api('outages');
  $('#outages tbody').replaceChildren(...(o.outages.length ? o.outages.map((x) => el('tr', {}, el('td', {}, x.scope), el('td', {}, localTime(x.from)), el('td', {}, localTime(x.to)), el('td', {}, x.cause)))
    : [el('tr', {}, el('td', { colspan: '4' }, t('none')))]));
}

// ---- registrations and timeline ----
async function loadRegistrations() {
  $('#regError').textContent = '';
  const data = await api(`registrations?${query($('#regForm'))}`);
  const canSee = state.me.canSeeNiss;
  $('#registrations tbody').replaceChildren(...(data.registrations.length ? data.registrations.map((r) => el('tr', { 'data-seq': r.seq },
    el('td', {}, r.seq), el('td', {}, localTime(r.at)), el('td', {}, `${r.type}${r.reason === 'break' ? ` (${t('break')})` : ''}`),
    el('td', {}, r.workerName ?? r.workerId ?? '—'),
    el('td', { 'data-badge': r.badge ?? '' }, r.badge ? [el('span', { class: 'mono' }, r.badge), ' ', badgeKindTag(r.badgeKind, r.badgeKeyVersion)] : '—'),
    canSee ? el('td', { class: 'mono' }, r.ssin ?? r.limosaId ?? '') : '',
    el('td', {}, r.siteName ?? r.siteId), el('td', { class: 'mono' }, r.employerId), el('td', { class: 'mono' }, r.declaration), el('td', {}, t(r.onssState)),
    el('td', {},
      r.workerId ? el('button', { class: 'link', onclick: () => openTimeline(r.workerId, new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Brussels' }).format(new Date(r.at))) }, t('showDay')) : '', ' ',
      el('button', { class: 'link correct', onclick: () => startCorrection(r) }, t('correct'))))) : [el('tr', {}, el('td', { colspan: '11' }, t('noRows')))]));
}

async function openTimeline(worker, day) {
  showTab('registrations');
  const data = await api(`timeline?worker=${encodeURIComponent(worker)}&day=${day}`);
  $('#timelineCard').hidden = false;
  $('#timelineTitle').textContent = `${data.registrations[0]?.workerName ?? worker} · ${day}`;
  // The API gives the day's real bounds (23 or 25 hours on DST days).
  const start = Date.parse(data.dayStart);
  const span = Date.parse(data.dayEnd) - start;
  const pct = (iso) => Math.max(0, Math.min(100, ((Date.parse(iso) - start) / span) * 100));
  const bars = data.bars.map((b) => {
    const left = pct(b.from);
    const right = b.to ? pct(b.to) : b.cutAt ? pct(b.cutAt) : Math.min(100, left + 2);
    return el('div', { class: `bar ${b.to ? b.kind : 'open'}`, style: `left:${left}%;width:${Math.max(0.4, right - left)}%`, title: `${localTime(b.from)} → ${b.to ? localTime(b.to) : '?'}`, 'data-kind': b.kind });
  });
  const hourFmt = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Brussels', hour: '2-digit', hourCycle: 'h23' });
  const hours = [];
  for (let ms = 0; ms < span; ms += 3 * 3600000) hours.push(el('span', { class: 'hour', style: `left:${(ms / span) * 100}%` }, `${hourFmt.format(new Date(start + ms))}h`));
  $('#timeline').replaceChildren(...bars, ...hours);
}

// ---- export ----
async function doExport(ev) {
  ev.preventDefault();
  $('#exportError').textContent = '';
  $('#exportResult').textContent = '';
  const q = query($('#exportForm'));
  try {
    const res = await api(`export?${q}`, { raw: true });
    const blob = await res.blob();
    const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') || '')?.[1] || 'export';
    const a = el('a', { href: URL.createObjectURL(blob), download: name });
    document.body.append(a);
    a.click();
    a.remove();
    $('#exportResult').textContent = t('exported', { n: res.headers.get('x-ciao-count') ?? '?', f: name });
  } catch (err) {
    $('#exportError').textContent = problemText(err);
  }
}

// ---- corrections ----
/** Opens the correction form for a registration; only the company or declaration number can be asked for. */
function startCorrection(r) {
  showTab('corrections');
  const f = $('#correctionForm');
  f.seq.value = r.seq;
  f.field.value = 'employer';
  f.requestedValue.value = '';
  f.requestedValue.focus();
}

async function refreshCorrections() {
  const data = await api('corrections');
  const action = (c, to, label) => el('button', { class: 'link', onclick: () => changeState(c.id, to) }, label);
  $('#corrections tbody').replaceChildren(...(data.corrections.length ? data.corrections.map((c) => el('tr', { 'data-correction': c.id },
    el('td', {}, c.id), el('td', {}, c.seq), el('td', {}, c.field === 'employer' ? t('employerNumber') : t('declarationNumber')),
    el('td', { class: 'mono' }, c.currentValue), el('td', { class: 'mono' }, c.requestedValue), el('td', {}, t(c.state)), el('td', {}, c.deadline),
    el('td', {},
      el('a', { href: '#', onclick: (e) => { e.preventDefault(); openDocument(c.id); } }, t('document')), ' ',
      c.state === 'draft' ? action(c, 'sent', t('markSent')) : '',
      c.state === 'sent' ? [action(c, 'accepted', t('accept')), ' ', action(c, 'refused', t('refuse'))] : ''))) : [el('tr', {}, el('td', { colspan: '8' }, t('none')))]));
}

async function openDocument(id) {
  const res = await api(`corrections/document?ids=${id}&format=html`, { raw: true });
  const url = URL.createObjectURL(await res.blob());
  window.open(url, '_blank');
}

async function changeState(id, to) {
  $('#correctionError').textContent = '';
  try {
    await api(`corrections/${id}/state`, { method: 'POST', body: { state: to } });
  } catch (err) {
    $('#correctionError').textContent = problemText(err);
  }
  await refreshCorrections();
}

async function prepareCorrection(ev) {
  ev.preventDefault();
  $('#correctionError').textContent = '';
  const f = Object.fromEntries(new FormData(ev.target));
  try {
    await api('corrections', { method: 'POST', body: { seq: Number(f.seq), field: f.field, requestedValue: f.requestedValue, reason: f.reason } });
    ev.target.reset();
  } catch (err) {
    $('#correctionError').textContent = problemText(err);
  }
  await refreshCorrections();
}

// ---- wiring ----
$('#lang').addEventListener('change', (e) => {
  state.lang = e.target.value;
  localStorage.setItem('ciao.lang', state.lang);
  applyLanguage();
  if (state.me) showTab(state.tab);
});
$('#loginForm').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('#loginError').textContent = '';
  try {
    await login($('#token').value.trim());
  } catch (err) {
    state.token = '';
    $('#loginError').textContent = problemText(err);
  }
});
$('#logout').addEventListener('click', logout);
for (const b of $$('#tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));
$('#regForm').addEventListener('submit', (e) => { e.preventDefault(); loadRegistrations().catch((err) => ($('#regError').textContent = problemText(err))); });
$('#remarkForm').addEventListener('submit', (e) => { e.preventDefault(); refreshRemarks().catch(showFatal); });
$('#exportForm').addEventListener('submit', doExport);
$('#correctionForm').addEventListener('submit', prepareCorrection);

applyLanguage();
// A link printed by `ciao demo` carries the token in the fragment (never sent to the server); keep it for
// this tab only and take it out of the address bar.
const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromLink) {
  state.token = fromLink;
  history.replaceState(null, '', location.pathname + location.search);
}
if (state.token) login(state.token).catch(() => logout());
