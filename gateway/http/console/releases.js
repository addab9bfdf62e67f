// Releases (administrators): which terminal runs which version, and where its last update stands; upload a
// signed release (bundle and signature from `ciao release pack` and `sign`); roll it out to a few chosen
// terminals first, then to all; withdraw an offer. Terminals check the publisher's signature themselves.
import { useState } from 'preact/hooks';
import { html, useSession, useT, useLive, Notice, formatTime, ApiError } from './lib.js';

/** A file picked in the page, as base64 (the API takes JSON). */
async function base64Of(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function UpdateState({ row, t, lang }) {
  const u = row.update;
  if (!u) return html`<span class="hint">—</span>`;
  const cls = u.state === 'running' ? 'ok' : u.state === 'failed' || u.state === 'rolled-back' ? 'offline' : 'wait';
  return html`<span class=${`state ${cls}`} data-update=${u.state}>${t(`u_${u.state}`)} ${u.version}</span>
    ${u.reason ? html`<br /><small class="hint" data-reason>${u.reason}</small>` : ''}
    <br /><small class="hint">${formatTime(u.at, lang)}</small>`;
}

function Upload({ onDone }) {
  const session = useSession();
  const t = useT();
  const [bundle, setBundle] = useState(null);
  const [signature, setSignature] = useState(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    if (!bundle || !signature) {
      setNotice({ kind: 'error', text: t('uploadBoth') });
      return;
    }
    setBusy(true);
    try {
      const signed = JSON.parse(await signature.text());
      const r = await session.api('releases', { method: 'POST', body: { signed, bundle: await base64Of(bundle) } });
      setNotice({ kind: 'ok', text: t('uploaded', { v: r.version }) });
      onDone();
    } catch (err) {
      const first = err instanceof ApiError ? err.problems[0] : null;
      setNotice({ kind: 'error', text: first ? `${first.message} (${first.rule})` : err.message });
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="import" onSubmit=${submit} aria-labelledby="upload-title" data-form="upload">
    <h3 id="upload-title">${t('uploadRelease')}</h3>
    <p class="hint">${t('uploadHelp')}</p>
    <div class="field"><label for="rel-bundle">${t('bundleFile')}</label><input id="rel-bundle" name="bundle" type="file" accept=".gz,.tgz,application/gzip" onChange=${(e) => setBundle(e.currentTarget.files[0] ?? null)} /></div>
    <div class="field"><label for="rel-signature">${t('signatureFile')}</label><input id="rel-signature" name="signature" type="file" accept=".json,application/json" onChange=${(e) => setSignature(e.currentTarget.files[0] ?? null)} /></div>
    <${Notice} kind=${notice?.kind}>${notice?.text}<//>
    <div class="actions"><button type="submit" class="primary" disabled=${busy} data-action="upload">${t('upload')}</button></div>
  </form>`;
}

export function ReleasesScreen() {
  const session = useSession();
  const t = useT();
  const [releases, setReleases] = useState(null);
  const [fleet, setFleet] = useState([]);
  const [selected, setSelected] = useState(() => new Set());
  const [notice, setNotice] = useState(null);
  const load = () => {
    session.api('releases').then(setReleases).catch((e) => setNotice({ kind: 'error', text: e.message }));
    session.api('fleet').then((f) => setFleet(f.terminals)).catch((e) => setNotice({ kind: 'error', text: e.message }));
  };
  useLive(['terminals', 'site-data', 'audit'], load);

  const toggle = (id, on) => setSelected((s) => {
    const next = new Set(s);
    if (on) next.add(id);
    else next.delete(id);
    return next;
  });
  const rollout = async (version, all) => {
    const ids = [...selected];
    if (!all && ids.length === 0) {
      setNotice({ kind: 'error', text: t('selectFirst') });
      return;
    }
    const question = all ? t('rolloutAllConfirm', { v: version }) : t('rolloutConfirm', { v: version, ids: ids.join(', ') });
    if (!window.confirm(question)) return;
    try {
      const r = await session.api(`releases/${encodeURIComponent(version)}/rollout`, { method: 'POST', body: all ? { all: true } : { terminals: ids } });
      setNotice({ kind: 'ok', text: t('rolledOut', { v: version, n: r.terminals.length }) });
      setSelected(new Set());
      load();
    } catch (err) {
      setNotice({ kind: 'error', text: err.message });
    }
  };
  const withdraw = async () => {
    const ids = [...selected];
    if (ids.length === 0) {
      setNotice({ kind: 'error', text: t('selectFirst') });
      return;
    }
    try {
      const r = await session.api('rollouts/stop', { method: 'POST', body: { terminals: ids } });
      setNotice({ kind: 'ok', text: t('withdrawn', { n: r.withdrawn }) });
      load();
    } catch (err) {
      setNotice({ kind: 'error', text: err.message });
    }
  };

  return html`<section aria-labelledby="rel-title">
    <h2 id="rel-title">${t('releases')}</h2>
    <${Notice} kind=${notice?.kind}>${notice?.text}<//>
    <h3>${t('fleetTitle')}</h3>
    <div class="table-wrap"><table class="list" data-kind="fleet">
      <thead><tr><th scope="col"><span class="sr-only">${t('select')}</span></th><th scope="col">${t('terminal')}</th><th scope="col">${t('f_state')}</th><th scope="col">${t('runs')}</th><th scope="col">${t('offered')}</th><th scope="col">${t('lastUpdate')}</th><th scope="col">${t('certificate')}</th></tr></thead>
      <tbody>${fleet.length ? fleet.map((x) => html`<tr data-terminal=${x.id} class=${x.disabled ? 'inactive' : ''}>
        <td><input type="checkbox" checked=${selected.has(x.id)} disabled=${x.disabled} onChange=${(e) => toggle(x.id, e.currentTarget.checked)} aria-label=${`${t('select')} ${x.id}`} data-select=${x.id} /></td>
        <td data-label=${t('terminal')} class="mono">${x.id}${x.disabled ? html` <span class="tag">${t('inactive')}</span>` : ''}</td>
        <td data-label=${t('f_state')}><span class=${`state ${x.state}`}>${t(x.state)}</span></td>
        <td data-label=${t('runs')} class="mono" data-version>${x.version ?? '—'}</td>
        <td data-label=${t('offered')} class="mono" data-target>${x.target ? x.target.version : '—'}</td>
        <td data-label=${t('lastUpdate')}><${UpdateState} row=${x} t=${t} lang=${session.lang} /></td>
        <td data-label=${t('certificate')}>${x.certificate ? t('certUntil', { t: formatTime(x.certificate.notAfter, session.lang) }) : html`<span class="hint">${t('secretLogin')}</span>`}</td>
      </tr>`) : html`<tr><td colspan="7">${t('none')}</td></tr>`}</tbody>
    </table></div>
    <div class="actions"><button type="button" onClick=${withdraw} data-action="withdraw">${t('withdraw')}</button></div>

    <h3>${t('releasesUploaded')}</h3>
    ${releases && !releases.acceptsUploads ? html`<p class="notice">${t('noReleaseKey')}</p>` : ''}
    <div class="table-wrap"><table class="list" data-kind="releases">
      <thead><tr><th scope="col">${t('version')}</th><th scope="col">${t('uploadedAt')}</th><th scope="col">${t('offered')}</th><th scope="col">${t('runs')}</th><th scope="col"><span class="sr-only">${t('rollout')}</span></th></tr></thead>
      <tbody>${releases && releases.releases.length ? releases.releases.map((r) => html`<tr data-release=${r.version}>
        <td data-label=${t('version')} class="mono">${r.version}<br /><small class="hint" title=${r.sha256}>sha256 ${r.sha256.slice(0, 12)}… · ${(r.size / 1024).toFixed(1)} KiB</small></td>
        <td data-label=${t('uploadedAt')}>${formatTime(r.uploadedAt, session.lang)} · ${r.uploadedBy}</td>
        <td data-label=${t('offered')}>${r.offeredTo}</td>
        <td data-label=${t('runs')}>${r.running}</td>
        <td><div class="row-actions">
          <button type="button" class="primary" onClick=${() => rollout(r.version, false)} data-action="rollout-selected" aria-label=${`${t('rolloutSelected', { n: selected.size })} ${r.version}`}>${t('rolloutSelected', { n: selected.size })}</button>
          <button type="button" onClick=${() => rollout(r.version, true)} data-action="rollout-all" aria-label=${`${t('rolloutAll')} ${r.version}`}>${t('rolloutAll')}</button>
        </div></td>
      </tr>`) : html`<tr><td colspan="5">${t('none')}</td></tr>`}</tbody>
    </table></div>
    ${releases?.acceptsUploads ? html`<${Upload} onDone=${load} />` : ''}
    <p class="hint">${t('releasesHelp')}</p>
  </section>`;
}
