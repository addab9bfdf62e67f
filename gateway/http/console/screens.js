// The console's other screens: overview (live), enrolment from a tap, CSV import, the audit trail, export.
import { useState } from 'preact/hooks';
import { html, useSession, useT, useLive, Field, Notice, formatTime, download, focusOnce, ReleaseList, problemText } from './lib.js';
import { BadgeKind } from './badges.js';

export function OverviewScreen() {
  const session = useSession();
  const t = useT();
  const [terms, setTerms] = useState(null);
  const [presence, setPresence] = useState(null);
  const [held, setHeld] = useState(null);
  const [remarks, setRemarks] = useState(null);
  useLive(['terminals', 'site-data'], () => session.api('terminals?limit=200').then((p) => setTerms(p.items)).catch(() => setTerms([])));
  useLive(['presence'], () => session.api('presence').then((p) => setPresence(p.presence)).catch(() => setPresence([])));
  useLive(['remarks', 'site-data'], () => session.api('held-taps?reason=unknown-badge&limit=20').then((p) => setHeld(p.items)).catch(() => setHeld([])));
  useLive(['presence', 'remarks', 'site-data'], () => session.api('remarks').then((r) => setRemarks(r.count)).catch(() => setRemarks(null)));
  return html`<div class="grid">
    <section aria-labelledby="ov-terms"><h2 id="ov-terms">${t('terminals')}</h2>
      <ul class="cards" id="ov-terminals">${(terms ?? []).map((x) => html`<li data-terminal=${x.id}><span class="mono">${x.id}</span> <span class=${`state ${x.state}`} data-state=${x.state}>${t(x.state)}</span> <small>${formatTime(x.lastSeen, session.lang)}</small></li>`)}</ul>
    </section>
    <section aria-labelledby="ov-presence"><h2 id="ov-presence">${t('presence')}</h2>
      ${presence && presence.length ? html`<ul class="cards" id="ov-presence-list">${presence.map((p) => html`<li>${p.workerName ?? p.workerId} · ${p.siteName ?? p.siteId} · <span class=${`state ${p.state}`}>${t(p.state)}</span></li>`)}</ul>` : html`<p>${t('nobody')}</p>`}
    </section>
    <section aria-labelledby="ov-held"><h2 id="ov-held">${t('heldTaps')}</h2>
      ${held && held.length ? html`<ul class="cards" id="ov-held-list">${held.map((h) => html`<li data-badge=${h.badge}><span class="mono">${h.badge}</span> · ${h.terminalId} · ${formatTime(h.at, session.lang)} ${session.may('change-site-data') ? html`<a href=${`#/enrol?tap=${encodeURIComponent(h.tapId)}`}>${t('enrol')}</a>` : ''}</li>`)}</ul>` : html`<p>${t('none')}</p>`}
    </section>
    <section aria-labelledby="ov-remarks"><h2 id="ov-remarks">${t('remarks')}</h2>
      <p><strong id="ov-remark-count">${remarks ?? '—'}</strong> · <a href="/dashboard/">${t('records')}</a></p>
    </section>
  </div>`;
}

export function EnrolScreen({ params }) {
  const session = useSession();
  const t = useT();
  const [held, setHeld] = useState(null);
  const [workers, setWorkers] = useState([]);
  const [chosen, setChosen] = useState({});
  const [review, setReview] = useState(null);
  const [notice, setNotice] = useState(null);
  // From a terminal in enrolment mode: only the badges tapped on that terminal.
  const terminal = params.get('terminal');
  useLive(['remarks', 'site-data'], () => session.api(`held-taps?reason=unknown-badge&limit=50${terminal ? `&terminal=${encodeURIComponent(terminal)}` : ''}`).then((p) => setHeld(p.items)).catch((e) => setNotice({ kind: 'error', text: e.message })), [terminal]);
  useLive(['site-data'], () => session.api('workers?limit=500').then((p) => setWorkers(p.items)).catch(() => setWorkers([])));
  const workerName = (id) => workers.find((w) => w.id === id)?.name ?? id;
  const preview = async (tap) => {
    const worker = chosen[tap.tapId];
    if (!worker) {
      setNotice({ kind: 'error', text: t('fixErrors') });
      return;
    }
    try {
      setReview({ tap, worker, ...(await session.api('enrolments/preview', { method: 'POST', body: { tapId: tap.tapId, worker } })) });
      setNotice(null);
    } catch (err) {
      // A site that requires secure badges refuses a UID-only badge for its workers: the rule and what to do.
      setNotice({ kind: 'error', text: problemText(err, t) });
    }
  };
  const confirm = async () => {
    try {
      const r = await session.api('enrolments', { method: 'POST', body: { tapId: review.tap.tapId, worker: review.worker } });
      setNotice({ kind: 'ok', text: `${t('enrolled', { uid: r.badge.uid, worker: workerName(r.badge.workerId) })}${r.released?.length ? ` ${t('sentLate', { n: r.released.length })}` : ''}` });
      setReview(null);
    } catch (err) {
      setReview(null);
      setNotice({ kind: 'error', text: problemText(err, t) });
    }
  };
  if (review) {
    return html`<section class="review" aria-labelledby="enrol-review"><h2 id="enrol-review" tabindex="-1" ref=${focusOnce}>${t('reviewTitle')}</h2>
      <p>${t('enrolReview', { uid: review.tap.badge, worker: workerName(review.worker), day: review.tap.day })}</p>
      <p data-enrol-kind=${review.badge.kind}>${t('enrolKind')} <${BadgeKind} kind=${review.badge.kind} keyVersion=${review.badge.keyVersion} /></p>
      ${review.tapCarriedSecureMessage && review.badge.kind !== 'secure' ? html`<p class="warn" data-enrol-sun>${t('tapHadSun')}</p>` : ''}
      ${review.releasesHeldTaps
        ? html`<${ReleaseList} taps=${review.heldTaps} />`
        : html`<p class="warn" data-release="unavailable">${t('releaseNone')}</p>`}
      <div class="actions"><button type="button" class="primary" onClick=${confirm} data-action="confirm">${t('confirm')}</button><button type="button" onClick=${() => setReview(null)}>${t('back')}</button></div>
    </section>`;
  }
  const focus = params.get('tap');
  return html`<section aria-labelledby="enrol-title"><h2 id="enrol-title">${t('heldTaps')}${terminal ? ` ${t('onTerminal', { id: terminal })}` : ''}</h2>
    <p class="hint">${t('heldTapsHelp')}</p>
    ${terminal ? html`<p><a href="#/enrol">${t('allTerminals')}</a></p>` : ''}
    <${Notice} kind=${notice?.kind}>${notice?.text}<//>
    <div class="table-wrap"><table class="list" data-kind="held-taps">
      <thead><tr><th scope="col">${t('badge')}</th><th scope="col">${t('terminal')}</th><th scope="col">${t('at')}</th><th scope="col">${t('enrolAs')}</th><th scope="col"><span class="sr-only">${t('review')}</span></th></tr></thead>
      <tbody>${held && held.length ? held.map((h) => html`<tr data-tap=${h.tapId} data-badge=${h.badge} class=${focus === h.tapId ? 'focus' : ''}>
        <td data-label=${t('badge')} class="mono">${h.badge}</td><td data-label=${t('terminal')}>${h.terminalId}</td><td data-label=${t('at')}>${formatTime(h.at, session.lang)}</td>
        <td data-label=${t('enrolAs')}><label class="sr-only" for=${`w-${h.tapId}`}>${t('enrolAs')} ${h.badge}</label>
          <select id=${`w-${h.tapId}`} name="worker" onChange=${(e) => setChosen({ ...chosen, [h.tapId]: e.currentTarget.value })}>
            <option value="">—</option>${workers.map((w) => html`<option value=${w.id} selected=${chosen[h.tapId] === w.id}>${w.name}</option>`)}
          </select></td>
        <td><button type="button" disabled=${!session.may('change-site-data')} onClick=${() => preview(h)} aria-label=${`${t('review')} ${h.badge}`}>${t('review')}</button></td>
      </tr>`) : html`<tr><td colspan="5">${t('none')}</td></tr>`}</tbody>
    </table></div>
    ${terminal ? '' : html`<${EmployerChoices} />`}
  </section>`;
}

/**
 * Taps held because the worker has several employers for the site and chose none (or one that is not
 * theirs): the site manager picks the employer, reviews what will be sent late, confirms.
 */
function EmployerChoices() {
  const session = useSession();
  const t = useT();
  const [held, setHeld] = useState(null);
  const [chosen, setChosen] = useState({});
  const [review, setReview] = useState(null);
  const [notice, setNotice] = useState(null);
  const load = () => Promise.all(['employer-choice-needed', 'unknown-employer'].map((r) => session.api(`held-taps?reason=${r}&limit=50`).then((p) => p.items)))
    .then((lists) => setHeld(lists.flat()))
    .catch((e) => setNotice({ kind: 'error', text: e.message }));
  useLive(['remarks', 'site-data'], load);
  const preview = async (tap) => {
    const employer = chosen[tap.tapId] ?? tap.employerChoices?.[0];
    try {
      setReview({ tap, employer, heldTaps: (await session.api('employer-choices/preview', { method: 'POST', body: { tapId: tap.tapId, employer } })).heldTaps });
    } catch (err) {
      setNotice({ kind: 'error', text: err.message });
    }
  };
  const confirm = async () => {
    try {
      const r = await session.api('employer-choices', { method: 'POST', body: { tapId: review.tap.tapId, employer: review.employer } });
      setNotice({ kind: 'ok', text: t('sentLate', { n: r.released.length }) });
    } catch (err) {
      setNotice({ kind: 'error', text: err.message });
    }
    setReview(null);
    load();
  };
  if (review) {
    return html`<section class="review" aria-labelledby="choice-review"><h3 id="choice-review" tabindex="-1" ref=${focusOnce}>${t('reviewTitle')}</h3>
      <p>${t('employerReview', { employer: review.employer, badge: review.tap.badge, time: formatTime(review.tap.at, session.lang) })}</p>
      <${ReleaseList} taps=${review.heldTaps} />
      <div class="actions"><button type="button" class="primary" onClick=${confirm} data-action="confirm-employer">${t('confirm')}</button><button type="button" onClick=${() => setReview(null)}>${t('back')}</button></div>
    </section>`;
  }
  return html`<section aria-labelledby="choice-title"><h3 id="choice-title">${t('employerHeld')}</h3>
    <p class="hint">${t('employerHeldHelp')}</p>
    <${Notice} kind=${notice?.kind}>${notice?.text}<//>
    <div class="table-wrap"><table class="list" data-kind="employer-held">
      <thead><tr><th scope="col">${t('badge')}</th><th scope="col">${t('terminal')}</th><th scope="col">${t('at')}</th><th scope="col">${t('chooseEmployer')}</th><th scope="col"><span class="sr-only">${t('review')}</span></th></tr></thead>
      <tbody>${held && held.length ? held.map((h) => html`<tr data-tap=${h.tapId}>
        <td data-label=${t('badge')} class="mono">${h.badge}</td><td data-label=${t('terminal')}>${h.terminalId}</td><td data-label=${t('at')}>${formatTime(h.at, session.lang)}</td>
        <td data-label=${t('chooseEmployer')}><label class="sr-only" for=${`e-${h.tapId}`}>${t('chooseEmployer')} ${h.badge}</label>
          <select id=${`e-${h.tapId}`} name="employer" onChange=${(e) => setChosen({ ...chosen, [h.tapId]: e.currentTarget.value })}>
            ${(h.employerChoices ?? []).map((c) => html`<option value=${c} selected=${chosen[h.tapId] === c}>${c}</option>`)}
          </select></td>
        <td><button type="button" disabled=${!session.may('change-site-data') || !(h.employerChoices ?? []).length} onClick=${() => preview(h)} aria-label=${`${t('review')} ${h.badge}`}>${t('review')}</button></td>
      </tr>`) : html`<tr><td colspan="5">${t('none')}</td></tr>`}</tbody>
    </table></div>
  </section>`;
}

/**
 * FAQ 31: when a terminal cannot register (no reader, no site config, outbox unwritable), workers register
 * with the CIaO QR code of the site's declaration. Shown here to read, scan or print and put up at the door.
 */
export function FallbackScreen({ params }) {
  const session = useSession();
  const t = useT();
  const site = params.get('site') ?? '';
  const [data, setData] = useState(null);
  const [notice, setNotice] = useState(null);
  useLive(['site-data'], () => session.api(`sites/${encodeURIComponent(site)}/fallback`).then(setData).catch((e) => setNotice({ kind: 'error', text: e.message })), [site]);
  return html`<section aria-labelledby="fallback-title" class="fallback">
    <h2 id="fallback-title">${t('fallbackTitle')}${data ? ` · ${data.site.name}` : ''}</h2>
    <${Notice} kind=${notice?.kind}>${notice?.text}<//>
    ${data ? (data.ciaoUrl ? html`<p>${t('fallbackHelp', { declaration: data.declaration })}</p>
        <img class="qr" alt=${t('fallbackQrAlt', { declaration: data.declaration })} src=${`data:image/svg+xml;charset=utf-8,${encodeURIComponent(data.qrSvg)}`} width="260" height="260" data-fallback-qr />
        <p><a href=${data.ciaoUrl} data-fallback-url rel="noopener noreferrer">${data.ciaoUrl}</a></p>
        <div class="actions no-print"><button type="button" class="primary" onClick=${() => window.print()} data-action="print">${t('print')}</button><a href="#/sites">${t('back')}</a></div>`
      : html`<p class="warn" data-fallback="none">${data.declaration ? t('fallbackNoUrl', { declaration: data.declaration }) : t('fallbackNoDeclaration', { day: data.day })}</p><p><a href="#/declarations">${t('declarations')}</a></p>`) : ''}
  </section>`;
}

function ImportForm({ kind }) {
  const session = useSession();
  const t = useT();
  const [textValue, setText] = useState('');
  const [result, setResult] = useState(null);
  const [notice, setNotice] = useState(null);
  const fileId = `csv-file-${kind}`;
  const run = async (e) => {
    e.preventDefault();
    try {
      setResult(await session.api(`${kind}/import`, { method: 'POST', body: textValue, contentType: 'text/csv' }));
      setNotice(null);
    } catch (err) {
      setNotice({ kind: 'error', text: err.message });
    }
  };
  return html`<form onSubmit=${run} class="import" data-import=${kind} aria-labelledby=${`imp-${kind}`}>
    <h3 id=${`imp-${kind}`}>${t(kind === 'workers' ? 'importWorkers' : 'importBadges')}</h3>
    <p class="hint">${t(kind === 'workers' ? 'csvWorkersHelp' : 'csvBadgesHelp')}</p>
    <div class="field"><label for=${fileId}>${t('csvFile')}</label><input id=${fileId} type="file" accept=".csv,text/csv" onChange=${async (e) => setText(await e.currentTarget.files[0].text())} /></div>
    <div class="field"><label for=${`${fileId}-text`}>${t('csvText')}</label><textarea id=${`${fileId}-text`} name="csv" rows="6" value=${textValue} onInput=${(e) => setText(e.currentTarget.value)}></textarea></div>
    <div class="actions"><button type="submit" class="primary" disabled=${!textValue.trim() || !session.may('change-site-data')}>${t('importRun')}</button></div>
    <${Notice} kind=${notice?.kind}>${notice?.text}<//>
    ${result ? html`<div role="status" data-result><p>${t('imported', { n: result.imported, r: result.rejected.length })}</p>
      ${result.rejected.length ? html`<table class="list"><thead><tr><th scope="col">${t('line')}</th><th scope="col">${t('field')}</th><th scope="col">${t('problem')}</th></tr></thead>
        <tbody>${result.rejected.flatMap((r) => r.problems.map((p) => html`<tr data-line=${r.line}><td>${r.line}</td><td class="mono">${p.field}</td><td>${p.message} <small>(${p.rule})</small></td></tr>`))}</tbody></table>` : ''}
    </div>` : ''}
  </form>`;
}

export function ImportScreen() {
  const t = useT();
  return html`<section aria-labelledby="import-title"><h2 id="import-title">${t('import')}</h2><${ImportForm} kind="workers" /><${ImportForm} kind="badges" /></section>`;
}

export function AuditScreen() {
  const session = useSession();
  const t = useT();
  const [data, setData] = useState(null);
  const [offset, setOffset] = useState(0);
  const [notice, setNotice] = useState(null);
  useLive(['audit'], () => session.api(`audit?limit=50&offset=${offset}`).then(setData).catch((e) => setNotice({ kind: 'error', text: e.message })), [offset]);
  const brief = (v) => (v === null || v === undefined ? '—' : JSON.stringify(v).slice(0, 160));
  return html`<section aria-labelledby="audit-title"><div class="bar"><h2 id="audit-title">${t('audit')}</h2>
      <button type="button" onClick=${() => download(session.api, 'audit?format=csv&limit=10000', 'ciao-audit.csv').catch((e) => setNotice({ kind: 'error', text: e.message }))} data-action="audit-csv">${t('downloadCsv')}</button></div>
    <${Notice} kind=${notice?.kind}>${notice?.text}<//>
    <div class="table-wrap"><table class="list" data-kind="audit">
      <thead><tr><th scope="col">${t('when')}</th><th scope="col">${t('who')}</th><th scope="col">${t('action')}</th><th scope="col">${t('entity')}</th><th scope="col">${t('before')}</th><th scope="col">${t('after')}</th></tr></thead>
      <tbody>${data && data.items.length ? data.items.map((e) => html`<tr data-audit=${e.id}>
        <td data-label=${t('when')}>${formatTime(e.at, session.lang)}</td><td data-label=${t('who')}>${e.actor.name}</td><td data-label=${t('action')}>${e.action}</td>
        <td data-label=${t('entity')}>${e.entity} <span class="mono">${e.entityId}</span></td><td data-label=${t('before')} class="json">${brief(e.before)}</td><td data-label=${t('after')} class="json">${brief(e.after)}</td>
      </tr>`) : html`<tr><td colspan="6">${t('none')}</td></tr>`}</tbody>
    </table></div>
    ${data ? html`<nav class="pager" aria-label=${t('pageOf', { from: offset + 1, to: offset + data.items.length, total: data.total })}>
      <button type="button" disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - 50))}>${t('previous')}</button>
      <span>${t('pageOf', { from: Math.min(offset + 1, data.total), to: offset + data.items.length, total: data.total })}</span>
      <button type="button" disabled=${offset + data.items.length >= data.total} onClick=${() => setOffset(offset + 50)}>${t('next')}</button></nav>` : ''}
  </section>`;
}

export function ExportScreen() {
  const session = useSession();
  const t = useT();
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Brussels' }).format(new Date());
  const monthStart = `${today.slice(0, 8)}01`;
  const [from, setFrom] = useState(monthStart);
  const [to, setTo] = useState(today);
  const [format, setFormat] = useState('csv');
  const [notice, setNotice] = useState(null);
  const run = async (e) => {
    e.preventDefault();
    try {
      await download(session.api, `export?from=${from}&to=${to}&format=${format}`, `ciao-export.${format}`);
      setNotice({ kind: 'ok', text: t('saved') });
    } catch (err) {
      setNotice({ kind: 'error', text: err.message });
    }
  };
  return html`<section aria-labelledby="export-title"><h2 id="export-title">${t('export')}</h2><p class="hint">${t('exportHelp')}</p>
    <form onSubmit=${run}>
      <${Field} name="from" type="date" label=${t('from')} value=${from} onInput=${setFrom} required />
      <${Field} name="to" type="date" label=${t('to')} value=${to} onInput=${setTo} required />
      <${Field} name="format" label=${t('format')} value=${format} onInput=${setFormat} options=${[{ value: 'csv', label: 'CSV' }, { value: 'json', label: 'JSON' }]} />
      <div class="actions"><button type="submit" class="primary" data-action="export">${t('download')}</button></div>
    </form>
    <${Notice} kind=${notice?.kind}>${notice?.text}<//>
  </section>`;
}
