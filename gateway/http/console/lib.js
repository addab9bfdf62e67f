// Shared pieces of the console: the API client, the live-event stream, and form fields that validate as
// the person types with the same validators as the server (served from shared/ as ES modules).
import { h, createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { translate } from './i18n.js';

export const html = htm.bind(h);
export const Session = createContext(null);

export function useSession() {
  return useContext(Session);
}

export function useT() {
  const s = useSession();
  return (key, params) => translate(s.lang, key, params);
}

/** An API error: the problem+json the server sent, with its per-field problems. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.problems = problem?.problems ?? [];
  }
}

export function makeApi(token) {
  async function call(path, { method = 'GET', body, raw = false, contentType } = {}) {
    const headers = { authorization: `Bearer ${token}` };
    let payload;
    if (body !== undefined) {
      headers['content-type'] = contentType ?? 'application/json';
      payload = contentType ? body : JSON.stringify(body);
    }
    const r = await fetch(`/api/v1/${path}`, { method, headers, body: payload });
    if (!r.ok) {
      let problem = null;
      try {
        problem = await r.json();
      } catch {
        // not problem+json: keep the status
      }
      throw new ApiError(r.status, problem);
    }
    if (raw) return r;
    return r.json();
  }
  return call;
}

/**
 * Server-sent events over fetch (EventSource cannot send the bearer token). Reconnects with a growing
 * delay after any end or error, a gateway restart included; each (re)connection starts with `hello`, on
 * which every screen reads its data again.
 */
export function openLive(token, { onEvent, onState }) {
  let stopped = false;
  let controller = null;
  let delay = 500;
  async function loop() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const r = await fetch('/api/v1/events', { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
        if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let i;
          while ((i = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, i);
            buffer = buffer.slice(i + 2);
            const event = /^event: (.+)$/m.exec(block)?.[1];
            const data = /^data: (.+)$/m.exec(block)?.[1];
            if (event && data) {
              if (event === 'hello') {
                delay = 500;
                onState('live');
              }
              onEvent(event, JSON.parse(data));
            }
          }
        }
      } catch {
        // ended or failed: reconnect below
      }
      if (stopped) return;
      onState('reconnecting');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
  loop();
  return () => {
    stopped = true;
    controller?.abort();
  };
}

/** Re-runs `load` whenever one of `kinds` changes live (and once at first). */
export function useLive(kinds, load, deps = []) {
  const s = useSession();
  useEffect(() => {
    load();
    return s.subscribe((changed) => {
      if (changed.some((k) => kinds.includes(k))) load();
    });
  }, deps);
}

export function formatTime(iso, lang) {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(lang === 'nl' ? 'nl-BE' : lang === 'fr' ? 'fr-BE' : 'en-GB', { dateStyle: 'short', timeStyle: 'medium', timeZone: 'Europe/Brussels' }).format(new Date(iso));
}

let fieldCounter = 0;

/**
 * A labelled input that checks itself as the person types (`validate` answers a FieldProblem or null, the
 * shape the server's validators use), and shows the server's problem for the same field after a submit.
 */
export function Field({ name, label, value, onInput, validate, serverProblem, type = 'text', hint, options, required, disabled, multiple }) {
  const id = useRef(`f-${name}-${++fieldCounter}`).current;
  const [touched, setTouched] = useState(false);
  const local = touched && validate ? validate(value) : null;
  const problem = local ?? serverProblem ?? null;
  const describedBy = [hint ? `${id}-hint` : null, problem ? `${id}-error` : null].filter(Boolean).join(' ') || undefined;
  const common = { id, name, disabled, 'aria-invalid': problem ? 'true' : undefined, 'aria-describedby': describedBy, required };
  const change = (e) => {
    setTouched(true);
    if (type === 'checkbox') onInput(e.currentTarget.checked);
    else if (multiple) onInput([...e.currentTarget.selectedOptions].map((o) => o.value));
    else onInput(e.currentTarget.value);
  };
  let input;
  if (options) {
    input = html`<select ...${common} multiple=${multiple} onChange=${change}>
      ${options.map((o) => html`<option value=${o.value} selected=${multiple ? (value ?? []).includes(o.value) : o.value === (value ?? '')}>${o.label}</option>`)}
    </select>`;
  } else if (type === 'checkbox') {
    input = html`<input ...${common} type="checkbox" checked=${!!value} onChange=${change} />`;
  } else {
    input = html`<input ...${common} type=${type} value=${value ?? ''} onInput=${change} onBlur=${() => setTouched(true)} autocomplete="off" />`;
  }
  return html`<div class=${`field${type === 'checkbox' ? ' check' : ''}${problem ? ' invalid' : ''}`} data-field=${name}>
    <label for=${id}>${label}${required ? html`<span aria-hidden="true"> *</span>` : ''}</label>
    ${input}
    ${hint ? html`<small id=${`${id}-hint`} class="hint">${hint}</small>` : ''}
    ${problem ? html`<small id=${`${id}-error`} class="error" role="alert" data-rule=${problem.rule}>${problem.message}</small>` : ''}
  </div>`;
}

/** The first problem among `problems` for a field (matching `employer[0]` for `employers` too). */
export function problemFor(problems, name, aliases = []) {
  const names = [name, ...aliases];
  return problems.find((p) => names.some((n) => p.field === n || p.field.startsWith(`${n}[`) || p.field.startsWith(`${n}.`))) ?? null;
}

/** Rules the console explains in the person's language, beside the gateway's message. */
const RULE_HINTS = new Set(['secure-badge-required']);

/** An error as a person reads it: each problem's message with its rule, and for some rules what to do. */
export function problemText(err, t) {
  const problems = err instanceof ApiError ? err.problems : [];
  if (!problems.length) return err.message;
  return problems.map((p) => `${p.message} (${p.rule})${RULE_HINTS.has(p.rule) ? ` ${t(`ruleHint_${p.rule}`)}` : ''}`).join(' ');
}

/** A message area that screen readers announce. */
export function Notice({ kind = 'info', children }) {
  if (!children) return null;
  return html`<p class=${`notice ${kind}`} role=${kind === 'error' ? 'alert' : 'status'}>${children}</p>`;
}

/** Downloads an API answer as a file (the token travels in a header, so no plain link). */
export async function download(api, path, fallbackName) {
  const r = await api(path, { raw: true });
  const name = /filename="([^"]+)"/.exec(r.headers.get('content-disposition') ?? '')?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const focused = new WeakSet();
/** A ref that moves the focus to an element once, when it appears (a new screen or step), never again on re-render. */
export function focusOnce(el) {
  if (!el || focused.has(el)) return;
  focused.add(el);
  el.focus();
}

/**
 * The held taps a change will send late (with their original time), shown in its review before it is
 * confirmed: exactly what confirming does (the gateway computes it by making the change and undoing it).
 */
export function ReleaseList({ taps }) {
  const session = useSession();
  const t = useT();
  if (!taps) return '';
  if (taps.length === 0) return html`<p data-release="none">${t('releaseNothing')}</p>`;
  return html`<div data-release="list"><p>${t('releaseList')}</p><ul class="release">${taps.map((h) => html`<li data-release-tap=${h.tapId}>
    <span class="mono">${h.badge}</span> · ${h.direction} · ${formatTime(h.at, session.lang)} · ${h.terminalId} · ${t('reasonHeld')} ${t(`held_${h.heldBecause}`)}${h.outcome === 'badge-check' ? html` · <em>${t('releaseCheck')}</em>` : ''}
  </li>`)}</ul></div>`;
}
