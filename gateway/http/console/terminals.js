// Terminals: add one (a one-time pairing code and its QR for the device), edit its settings (pushed as the
// retained config; the list shows when the terminal has applied them), enrolment mode, disable.
import { useState } from 'preact/hooks';
import { html, useSession, useT, useLive, Field, Notice, problemFor, formatTime, ApiError, focusOnce } from './lib.js';

const LANGUAGES = ['fr', 'nl', 'de', 'en'];

function Applied({ t }) {
  const { configVersion, appliedConfigVersion } = t.terminal;
  const tr = t.t;
  if (appliedConfigVersion === configVersion) return html`<span class="state ok" data-applied="yes">${tr('applied')} (v${configVersion})</span>`;
  return html`<span class="state wait" data-applied="no">${tr('pending', { v: configVersion })}</span>`;
}

function Pairing({ pairing, t, lang }) {
  return html`<section class="pairing" aria-labelledby="pairing-title" data-pairing>
    <h3 id="pairing-title">${t('pairing')}: <code class="code" data-code>${pairing.code}</code></h3>
    <p>${t('pairingHelp', { t: formatTime(pairing.expiresAt, lang) })}</p>
    <pre class="command" data-command tabindex="0">${pairing.command}</pre>
    <img class="qr" alt=${t('qrAlt')} src=${`data:image/svg+xml;charset=utf-8,${encodeURIComponent(pairing.qrSvg)}`} width="220" height="220" />
  </section>`;
}

function SettingsForm({ terminal, sites, onDone }) {
  const session = useSession();
  const t = useT();
  const create = !terminal;
  const [v, setV] = useState(create
    ? { id: '', siteId: sites[0]?.id ?? '', language: '', debounceSeconds: 60, buttons: ['IN', 'OUT', 'BREAK'], armSeconds: 10, feedbackSeconds: '' }
    : { siteId: terminal.siteId, language: terminal.language ?? '', debounceSeconds: terminal.debounceSeconds, buttons: terminal.buttons, armSeconds: terminal.armSeconds, feedbackSeconds: terminal.feedbackSeconds ?? '' });
  const [problems, setProblems] = useState([]);
  const [notice, setNotice] = useState(null);
  const [review, setReview] = useState(null);
  const set = (k) => (x) => setV((o) => ({ ...o, [k]: x }));
  const int = (field, lo, hi) => (x) => (Number.isInteger(Number(x)) && Number(x) >= lo && Number(x) <= hi && String(x).trim() !== '' ? null : { field, rule: 'range', message: `${field}: a whole number from ${lo} to ${hi}` });
  const validators = {
    id: (x) => (/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(x ?? '') ? null : { field: 'id', rule: 'format', message: 'id: letters, digits, - and _ (at most 64)' }),
    debounceSeconds: int('debounce', 0, 3600),
    armSeconds: int('arm', 1, 60),
    feedbackSeconds: (x) => (x === '' || (Number(x) >= 0.5 && Number(x) <= 30) ? null : { field: 'feedback', rule: 'range', message: 'feedback: from 0.5 to 30 seconds' }),
    buttons: (x) => (x.length ? null : { field: 'buttons', rule: 'required', message: 'buttons: at least one' }),
  };
  const body = () => ({
    ...(create ? { id: v.id } : {}),
    siteId: v.siteId, language: v.language || null, debounceSeconds: Number(v.debounceSeconds), buttons: v.buttons, armSeconds: Number(v.armSeconds),
    feedbackSeconds: v.feedbackSeconds === '' ? null : Number(v.feedbackSeconds),
  });
  const submit = (e) => {
    e.preventDefault();
    const found = Object.entries(validators).filter(([k]) => create || k !== 'id').map(([k, f]) => f(v[k])).filter(Boolean);
    if (found.length) {
      setProblems(found);
      setNotice({ kind: 'error', text: t('fixErrors') });
      return;
    }
    const before = create ? {} : { siteId: terminal.siteId, language: terminal.language ?? '', debounceSeconds: terminal.debounceSeconds, buttons: terminal.buttons, armSeconds: terminal.armSeconds, feedbackSeconds: terminal.feedbackSeconds ?? '' };
    setReview(Object.keys(v).map((k) => [k, before[k], v[k]]).filter(([, a, b]) => String(a ?? '') !== String(b ?? '')));
  };
  const confirm = async () => {
    try {
      const saved = create ? await session.api('terminals', { method: 'POST', body: body() }) : await session.api(`terminals/${encodeURIComponent(terminal.id)}`, { method: 'PATCH', body: body() });
      const pairing = create ? await session.api(`terminals/${encodeURIComponent(saved.id)}/pairing`, { method: 'POST' }).catch((e) => ({ error: e.message })) : null;
      onDone(saved, pairing);
    } catch (err) {
      setReview(null);
      setProblems(err instanceof ApiError ? err.problems : []);
      setNotice({ kind: 'error', text: err.message });
    }
  };
  const show = (k, x) => (k === 'language' && !x ? t('siteLanguage') : k === 'feedbackSeconds' && x === '' ? t('terminalDefault') : Array.isArray(x) ? x.join(', ') : x ?? '—');
  if (review) {
    return html`<section class="review" aria-labelledby="treview"><h2 id="treview" tabindex="-1" ref=${focusOnce}>${t('reviewTitle')}</h2>
      <p>${t(create ? 'reviewCreate' : 'reviewUpdate', { what: t('what_terminals') })} <strong>${create ? v.id : terminal.id}</strong></p>
      ${review.length ? html`<table class="changes"><thead><tr><th scope="col">${t('field')}</th><th scope="col">${t('before')}</th><th scope="col">${t('after')}</th></tr></thead>
        <tbody>${review.map(([k, a, b]) => html`<tr><th scope="row">${t(`f_${k}`)}</th><td>${create ? '—' : show(k, a)}</td><td>${show(k, b)}</td></tr>`)}</tbody></table>` : html`<p>${t('unchanged')}</p>`}
      <div class="actions"><button type="button" class="primary" onClick=${confirm} data-action="confirm">${t('confirm')}</button><button type="button" onClick=${() => setReview(null)}>${t('back')}</button></div>
    </section>`;
  }
  return html`<section aria-labelledby="tform"><h2 id="tform" tabindex="-1" ref=${focusOnce}>${create ? t('addTerminal') : `${t('edit')}: ${terminal.id}`}</h2>
    <${Notice} kind=${notice?.kind}>${notice?.text}<//>
    <form onSubmit=${submit} novalidate>
      ${create ? html`<${Field} name="id" label=${t('f_id')} value=${v.id} onInput=${set('id')} required validate=${validators.id} serverProblem=${problemFor(problems, 'id')} />` : ''}
      <${Field} name="siteId" label=${t('f_siteId')} value=${v.siteId} onInput=${set('siteId')} required options=${sites.map((s) => ({ value: s.id, label: `${s.name} (${s.id})` }))} serverProblem=${problemFor(problems, 'siteId', ['site'])} />
      <${Field} name="language" label=${t('f_language')} value=${v.language} onInput=${set('language')} options=${[{ value: '', label: t('siteLanguage') }, ...LANGUAGES.map((l) => ({ value: l, label: l }))]} serverProblem=${problemFor(problems, 'language')} />
      <${Field} name="buttons" label=${t('f_buttons')} value=${v.buttons} onInput=${set('buttons')} multiple options=${['IN', 'OUT', 'BREAK'].map((b) => ({ value: b, label: b }))} validate=${validators.buttons} serverProblem=${problemFor(problems, 'buttons')} />
      <${Field} name="debounceSeconds" type="number" label=${t('f_debounceSeconds')} value=${v.debounceSeconds} onInput=${set('debounceSeconds')} validate=${validators.debounceSeconds} serverProblem=${problemFor(problems, 'debounceSeconds', ['debounce'])} />
      <${Field} name="armSeconds" type="number" label=${t('f_armSeconds')} value=${v.armSeconds} onInput=${set('armSeconds')} validate=${validators.armSeconds} serverProblem=${problemFor(problems, 'armSeconds', ['arm'])} />
      <${Field} name="feedbackSeconds" type="number" label=${t('f_feedbackSeconds')} hint=${t('terminalDefault')} value=${v.feedbackSeconds} onInput=${set('feedbackSeconds')} validate=${validators.feedbackSeconds} serverProblem=${problemFor(problems, 'feedbackSeconds', ['feedback'])} />
      <div class="actions"><button type="submit" class="primary">${t('review')}</button><button type="button" onClick=${() => onDone(null)}>${t('cancel')}</button></div>
    </form></section>`;
}

export function TerminalsScreen() {
  const session = useSession();
  const t = useT();
  const api = session.api;
  const canWrite = session.may('change-site-data');
  const [page, setPage] = useState(null);
  const [sites, setSites] = useState([]);
  const [mode, setMode] = useState({ view: 'list' });
  const [pairing, setPairing] = useState(null);
  const [notice, setNotice] = useState(null);
  const [q, setQ] = useState('');
  const [inactive, setInactive] = useState(false);
  const load = () => {
    api(`terminals?limit=200&inactive=${inactive}${q ? `&q=${encodeURIComponent(q)}` : ''}`).then(setPage).catch((e) => setNotice({ kind: 'error', text: e.message }));
    api('sites?limit=500').then((p) => setSites(p.items)).catch(() => setSites([]));
  };
  useLive(['terminals', 'site-data'], load, [q, inactive]);

  const act = async (terminal, path, body) => {
    try {
      // Disabling cuts the terminal off at once: say so and ask first (the native dialog is keyboard-friendly).
      if (path === 'deactivate' && !window.confirm(t('deactivateWarn', { what: t('what_terminals'), id: terminal.id }))) return;
      await api(`terminals/${encodeURIComponent(terminal.id)}/${path}`, { method: 'POST', body });
      load();
    } catch (err) {
      setNotice({ kind: 'error', text: err.message });
    }
  };
  const newCode = async (terminal) => {
    try {
      setPairing(await api(`terminals/${encodeURIComponent(terminal.id)}/pairing`, { method: 'POST' }));
    } catch (err) {
      setNotice({ kind: 'error', text: err.message });
    }
  };

  if (mode.view === 'form') {
    return html`<${SettingsForm} terminal=${mode.terminal} sites=${sites} onDone=${(saved, p) => {
      setMode({ view: 'list' });
      if (p?.error) setNotice({ kind: 'error', text: p.error });
      else setNotice(saved ? { kind: 'ok', text: t('saved') } : null);
      setPairing(p && !p.error ? p : null);
      load();
    }} />`;
  }
  return html`<section aria-labelledby="terms-title">
    <div class="bar"><h2 id="terms-title">${t('terminals')}</h2>
      ${canWrite ? html`<button type="button" class="primary" onClick=${() => setMode({ view: 'form' })} data-action="add-terminal">${t('addTerminal')}</button>` : html`<p class="hint">${t('readOnlyNote')}</p>`}</div>
    <${Notice} kind=${notice?.kind}>${notice?.text}<//>
    ${pairing ? html`<${Pairing} pairing=${pairing} t=${t} lang=${session.lang} />` : ''}
    <div class="filters">
      <label>${t('search')} <input type="search" name="q" value=${q} onInput=${(e) => setQ(e.currentTarget.value)} /></label>
      <label class="check"><input type="checkbox" checked=${inactive} onChange=${(e) => setInactive(e.currentTarget.checked)} /> ${t('showInactive')}</label>
    </div>
    <div class="table-wrap"><table class="list" data-kind="terminals">
      <thead><tr><th scope="col">${t('terminal')}</th><th scope="col">${t('f_siteId')}</th><th scope="col">${t('f_state')}</th><th scope="col">${t('f_lastSeen')}</th><th scope="col">${t('f_language')}</th><th scope="col">${t('f_applied')}</th><th scope="col">${t('enrolmentMode')}</th><th scope="col"><span class="sr-only">${t('edit')}</span></th></tr></thead>
      <tbody>${page && page.items.length ? page.items.map((x) => html`<tr data-terminal=${x.id} class=${x.disabled ? 'inactive' : ''}>
        <td data-label=${t('terminal')} class="mono">${x.id}${x.disabled ? html` <span class="tag">${t('inactive')}</span>` : ''}</td>
        <td data-label=${t('f_siteId')}>${x.siteName ?? x.siteId ?? '—'}</td>
        <td data-label=${t('f_state')}><span class=${`state ${x.state}`} data-state=${x.state}>${t(x.state)}</span>${x.cannotRegister?.length ? html` <span class="tag warn" data-cannot-register=${x.cannotRegister.join(',')}>${t('cannotRegister', { why: x.cannotRegister.map((r) => t(`cannot_${r}`)).join(', ') })}</span>` : ''}</td>
        <td data-label=${t('f_lastSeen')}>${formatTime(x.lastSeen, session.lang)}</td>
        <td data-label=${t('f_language')}>${x.language ?? html`<span class="hint">${t('siteLanguage')}</span>`}</td>
        <td data-label=${t('f_applied')}><${Applied} t=${{ terminal: x, t }} /></td>
        <td data-label=${t('enrolmentMode')}>${x.enrolmentUntil && x.enrolmentUntil > new Date().toISOString()
          ? html`<span data-enrolment="on">${t('enrolmentUntil', { t: formatTime(x.enrolmentUntil, session.lang) })}</span> <a href=${`#/enrol?terminal=${encodeURIComponent(x.id)}`}>${t('enrolHere')}</a> ${canWrite ? html`<button type="button" onClick=${() => act(x, 'enrolment', { minutes: 0 })}>${t('enrolmentOff')}</button>` : ''}`
          : canWrite && !x.disabled ? html`<button type="button" onClick=${() => act(x, 'enrolment', { minutes: 15 })} aria-label=${`${t('enrolmentOn')} ${x.id}`} data-action="enrolment-on">${t('enrolmentOn')}</button>` : '—'}</td>
        <td>${canWrite ? html`<div class="row-actions">
          <button type="button" onClick=${() => setMode({ view: 'form', terminal: x })} aria-label=${`${t('edit')} ${x.id}`}>${t('edit')}</button>
          ${!x.disabled ? html`<button type="button" onClick=${() => newCode(x)} aria-label=${`${t('newCode')} ${x.id}`}>${t('newCode')}</button>` : ''}
          <button type="button" class=${x.disabled ? '' : 'danger'} onClick=${() => act(x, x.disabled ? 'reactivate' : 'deactivate')} aria-label=${`${t(x.disabled ? 'reactivate' : 'deactivate')} ${x.id}`}>${t(x.disabled ? 'reactivate' : 'deactivate')}</button>
        </div>` : ''}</td>
      </tr>`) : html`<tr><td colspan="8">${t('none')}</td></tr>`}</tbody>
    </table></div>
    <p class="hint">${t('enrolmentHelp')}</p>
  </section>`;
}
