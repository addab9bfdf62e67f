// Secure badges in the console: what kind a badge is, a worker's badges with "Personalise a blank secure
// badge" on the gateway's desk reader (followed step by step), and what requiring secure badges on a site
// will flag, shown in the review before it is confirmed.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html, useSession, useT, useLive, Notice, problemText } from './lib.js';

/** A badge's kind: secure (NTAG 424 DNA, with its key version) or UID-only. */
export function BadgeKind({ kind, keyVersion }) {
  const t = useT();
  if (!kind) return '—';
  return html`<span class=${`tag kind-${kind}`} data-badge-kind=${kind}>${t(`kind_${kind}`)}${kind === 'secure' && keyVersion ? ` · ${t('keyVersion', { v: keyVersion })}` : ''}</span>`;
}

/** On a badge's page: its kind. */
export function BadgeDetail({ record }) {
  const t = useT();
  return html`<p data-badge-detail>${t('badgeInfo')} <${BadgeKind} kind=${record.kind} keyVersion=${record.keyVersion} /></p>`;
}

/** What a site's secure-badge rule will change, for the review of the site's form. */
export async function secureBadgeConsequence(api, values, record) {
  const before = !!record?.requireSecureBadges;
  const after = !!values.requireSecureBadges;
  if (before === after || !record) return null;
  if (!after) return { turning: 'off' };
  const policy = await api(`sites/${encodeURIComponent(record.id)}/badge-policy`);
  return { turning: 'on', badges: policy.uidOnlyBadges, others: policy.otherUidOnlyBadges };
}

export function SecureBadgeConsequence({ data }) {
  const t = useT();
  if (!data) return '';
  if (data.turning === 'off') return html`<p data-secure-consequence="off">${t('secureOff')}</p>`;
  return html`<div data-secure-consequence="on">
    ${data.badges.length ? html`<p class="warn">${t('secureOnList')}</p>
      <ul class="release">${data.badges.map((b) => html`<li data-flagged-badge=${b.uid}><span class="mono">${b.uid}</span> · ${b.workerName} <${BadgeKind} kind="uid-only" /></li>`)}</ul>` : html`<p>${t('secureOnNone')}</p>`}
    ${data.others ? html`<p>${t('secureOnOthers', { n: data.others })}</p>` : ''}
  </div>`;
}

const FINISHED = ['done', 'failed'];

/** A worker's badges, each with its kind, and the desk reader's personalisation of a blank secure badge for them. */
export function WorkerBadges({ record }) {
  const session = useSession();
  const t = useT();
  const [badges, setBadges] = useState(null);
  const [desk, setDesk] = useState(null);
  const [notice, setNotice] = useState(null);
  const canPersonalise = session.may('change-site-data') && !record.deactivatedAt;
  const loadBadges = () => session.api(`badges?worker=${encodeURIComponent(record.id)}&inactive=true&limit=100`).then((p) => setBadges(p.items)).catch((e) => setNotice({ kind: 'error', text: problemText(e, t) }));
  const loadDesk = () => session.api('badge-desk').then(setDesk).catch((e) => setNotice({ kind: 'error', text: problemText(e, t) }));
  useLive(['site-data'], loadBadges, [record.id]);
  useEffect(() => {
    if (canPersonalise) loadDesk();
  }, [record.id]);
  // While the desk reader works, follow it; once it is done, the new badge is in the list.
  const state = desk?.job?.state;
  const running = desk?.busy || (state !== undefined && !FINISHED.includes(state));
  useEffect(() => {
    if (!running) return undefined;
    const timer = setInterval(loadDesk, 400);
    return () => clearInterval(timer);
  }, [running]);
  const seen = useRef(state);
  useEffect(() => {
    if (seen.current !== state && state === 'done') loadBadges();
    seen.current = state;
  }, [state]);

  const start = async () => {
    setNotice(null);
    try {
      const r = await session.api('badge-desk/jobs', { method: 'POST', body: { worker: record.id } });
      setDesk({ ...desk, busy: true, job: r.job });
    } catch (err) {
      setNotice({ kind: 'error', text: problemText(err, t) });
      loadDesk();
    }
  };

  const job = desk?.job && desk.job.workerId === record.id ? desk.job : null;
  let why = null;
  if (desk && !desk.available) why = html`<span data-desk-problem=${desk.problem.rule}>${t('deskUnavailable', { why: t(`desk_${desk.problem.rule}`) })}</span> <small class="mono">${desk.problem.message}</small>`;
  else if (desk?.busy && !job) why = t('deskBusyOther');
  else if (desk?.busy && job) why = t('deskBusy', { worker: job.workerName });
  return html`<section aria-labelledby="worker-badges-title" class="worker-badges">
    <h3 id="worker-badges-title">${t('workerBadges')}</h3>
    <div class="table-wrap"><table class="list" data-kind="worker-badges">
      <thead><tr><th scope="col">${t('f_uid')}</th><th scope="col">${t('f_badgeKind')}</th><th scope="col">${t('f_validFrom')}</th><th scope="col">${t('badgeState')}</th></tr></thead>
      <tbody>${badges && badges.length ? badges.map((b) => html`<tr data-badge=${b.uid} class=${b.revokedAt ? 'inactive' : ''}>
        <td data-label=${t('f_uid')} class="mono">${b.uid}</td><td data-label=${t('f_badgeKind')}><${BadgeKind} kind=${b.kind} keyVersion=${b.keyVersion} /></td>
        <td data-label=${t('f_validFrom')}>${b.validFrom} → ${b.validTo ?? '…'}</td><td data-label=${t('badgeState')}>${b.revokedAt ? t('revoked') : t('active')}</td>
      </tr>`) : html`<tr><td colspan="4">${t('none')}</td></tr>`}</tbody>
    </table></div>
    ${canPersonalise ? html`<div class="desk" data-desk>
      <p class="hint" id="desk-help">${t('personaliseHelp')}</p>
      <div class="actions"><button type="button" class="primary" data-action="personalise" onClick=${start}
        disabled=${!desk || !desk.available || desk.busy} aria-describedby=${why ? 'desk-help desk-why' : 'desk-help'}>${job?.state === 'failed' ? `${t('personaliseAgain')} · ` : ''}${t('personalise', { worker: record.name })}</button></div>
      ${why ? html`<p id="desk-why" class="warn" data-desk-why>${why}</p>` : ''}
      <${Notice} kind=${notice?.kind}>${notice?.text}<//>
      ${job ? html`<${DeskProgress} job=${job} waitSeconds=${desk.waitSeconds} />` : ''}
    </div>` : ''}
  </section>`;
}

function Milestone({ name, done, children }) {
  const t = useT();
  return html`<li data-milestone=${name} data-done=${done ? 'yes' : 'no'} class=${done ? 'done' : ''}>
    <span aria-hidden="true">${done ? '✓' : '○'}</span> ${children} <span class="sr-only">(${t(done ? 'done' : 'pending')})</span></li>`;
}

/** What the desk reader has done to the badge so far, as it happens, and the outcome. */
function DeskProgress({ job, waitSeconds }) {
  const t = useT();
  const p = job.progress;
  let text;
  if (job.state === 'done') text = t('job_done', { uid: job.result.uid, v: job.result.keyVersion });
  else if (job.state === 'failed') text = t('job_failed', { message: job.error.message });
  else if (job.state === 'waiting-for-badge') text = t('job_waiting-for-badge', { reader: job.readerNames.join(', '), s: waitSeconds });
  else text = t(`job_${job.state}`);
  return html`<div class="progress" data-job=${job.id} data-job-state=${job.state}>
    <p role="status" class=${job.state === 'failed' ? 'error' : job.state === 'done' ? 'ok' : ''} data-job-text>${text}</p>
    ${job.state === 'failed' ? html`<p data-job-retry>${t(`retry_${job.error.next}`)}</p>` : ''}
    <ol class="milestones">
      <${Milestone} name="placed" done=${!!p.placed}>${t('m_placed')}${p.placed ? html` <span class="mono">${p.placed.uid}</span>` : ''}<//>
      <${Milestone} name="authenticated" done=${p.authenticated}>${t('m_authenticated')}<//>
      <${Milestone} name="keys" done=${p.verifiedCounter !== null}>${t('m_keys')} ${p.keysChanged.length ? p.keysChanged.join(', ') : p.verifiedCounter !== null ? t('m_keysNone') : '…'}<//>
      <${Milestone} name="verified" done=${p.verifiedCounter !== null}>${t('m_verified')}<//>
      <${Milestone} name="enrolled" done=${p.enrolled}>${t('m_enrolled')}<//>
    </ol>
  </div>`;
}
