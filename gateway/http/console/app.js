// The site manager's console: log in with a token, then one screen per job, in FR / NL / EN, live.
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { html, Session, makeApi, openLive, ApiError } from './lib.js';
import { LANGS, translate } from './i18n.js';
import { EntityScreen } from './entities.js';
import { TerminalsScreen } from './terminals.js';
import { ReleasesScreen } from './releases.js';
import { OverviewScreen, EnrolScreen, ImportScreen, AuditScreen, ExportScreen, FallbackScreen } from './screens.js';

const SCREENS = [
  { id: 'overview', view: () => html`<${OverviewScreen} />` },
  { id: 'companies', view: () => html`<${EntityScreen} key="companies" kind="companies" />` },
  { id: 'sites', view: () => html`<${EntityScreen} key="sites" kind="sites" />` },
  { id: 'declarations', view: () => html`<${EntityScreen} key="declarations" kind="declarations" />` },
  { id: 'workers', view: () => html`<${EntityScreen} key="workers" kind="workers" />` },
  { id: 'placements', view: () => html`<${EntityScreen} key="placements" kind="placements" />` },
  { id: 'badges', view: () => html`<${EntityScreen} key="badges" kind="badges" />` },
  { id: 'terminals', view: () => html`<${TerminalsScreen} />` },
  { id: 'enrol', view: (p) => html`<${EnrolScreen} params=${p} />`, needs: 'change-site-data' },
  { id: 'import', view: () => html`<${ImportScreen} />`, needs: 'change-site-data' },
  { id: 'export', view: () => html`<${ExportScreen} />`, needs: 'export' },
  { id: 'audit', view: () => html`<${AuditScreen} />`, needs: 'read-audit' },
  { id: 'users', view: () => html`<${EntityScreen} key="users" kind="users" />`, needs: 'manage-users' },
  { id: 'releases', view: () => html`<${ReleasesScreen} />`, needs: 'manage-releases' },
  // Reached from a site's row (its declaration's CIaO QR code), not from the menu.
  { id: 'fallback', view: (p) => html`<${FallbackScreen} params=${p} />`, hidden: true },
];

function initialLang() {
  const saved = localStorage.getItem('ciao-console-lang');
  if (LANGS.includes(saved)) return saved;
  const nav = (navigator.language || 'fr').slice(0, 2);
  return LANGS.includes(nav) ? nav : 'fr';
}

function route() {
  const [path, query] = (location.hash.replace(/^#\/?/, '') || 'overview').split('?');
  return { id: path, params: new URLSearchParams(query ?? '') };
}

function Login({ lang, setLang, onLogin }) {
  const t = (k) => translate(lang, k);
  const [token, setToken] = useState('');
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    try {
      const me = await makeApi(token.trim())('me');
      onLogin(token.trim(), me);
    } catch (err) {
      setError(err instanceof ApiError && err.problems[0] ? `${err.problems[0].message} (${err.problems[0].rule})` : String(err.message));
    }
  };
  return html`<main id="main" class="login">
    <h1>${t('title')}</h1>
    <${LangMenu} lang=${lang} setLang=${setLang} />
    <form onSubmit=${submit} id="login">
      <div class="field"><label for="token">${t('token')}</label>
        <input id="token" name="token" type="password" autocomplete="current-password" value=${token} onInput=${(e) => setToken(e.currentTarget.value)} aria-describedby="token-help" required /></div>
      <small id="token-help" class="hint">${t('loginHelp')}</small>
      ${error ? html`<p class="notice error" role="alert" id="login-error">${error}</p>` : ''}
      <div class="actions"><button type="submit" class="primary">${t('login')}</button></div>
    </form>
  </main>`;
}

function LangMenu({ lang, setLang }) {
  return html`<div class="lang"><label for="lang">${translate(lang, 'language')}</label>
    <select id="lang" onChange=${(e) => setLang(e.currentTarget.value)}>${LANGS.map((l) => html`<option value=${l} selected=${l === lang}>${l.toUpperCase()}</option>`)}</select></div>`;
}

function App() {
  const [lang, setLangState] = useState(initialLang);
  const [auth, setAuth] = useState(() => {
    // A link that logs in (the demo prints one): the token moves to this tab's session and leaves the address.
    const fromLink = /^#token=(ciao_[\w-]+)/.exec(location.hash)?.[1];
    if (fromLink) {
      sessionStorage.setItem('ciao-console-token', fromLink);
      history.replaceState(null, '', `${location.pathname}#/overview`);
    }
    const token = sessionStorage.getItem('ciao-console-token');
    return token ? { token, me: null } : null;
  });
  const [where, setWhere] = useState(route);
  const [live, setLive] = useState('reconnecting');
  const listeners = useRef(new Set());
  const mainRef = useRef(null);
  const setLang = (l) => {
    localStorage.setItem('ciao-console-lang', l);
    setLangState(l);
  };
  useEffect(() => {
    document.documentElement.lang = lang;
    document.title = translate(lang, 'title');
  }, [lang]);
  useEffect(() => {
    const onHash = () => {
      setWhere(route());
      mainRef.current?.focus();
    };
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  // A remembered token: check who it is (a revoked one goes back to the login).
  useEffect(() => {
    if (auth && !auth.me) makeApi(auth.token)('me').then((me) => setAuth({ token: auth.token, me })).catch(() => logout());
  }, [auth]);
  useEffect(() => {
    if (!auth?.me) return undefined;
    return openLive(auth.token, {
      onState: setLive,
      onEvent: (event, data) => {
        for (const l of listeners.current) l(data.kinds);
      },
    });
  }, [auth?.me]);
  const logout = () => {
    sessionStorage.removeItem('ciao-console-token');
    setAuth(null);
  };
  const session = useMemo(() => auth?.me && {
    lang,
    me: auth.me,
    api: makeApi(auth.token),
    may: (p) => auth.me.permissions.includes(p),
    subscribe: (fn) => {
      listeners.current.add(fn);
      return () => listeners.current.delete(fn);
    },
  }, [auth, lang]);

  if (!auth?.me) {
    if (auth && !auth.me) return html`<main id="main"><p>…</p></main>`;
    return html`<${Login} lang=${lang} setLang=${setLang} onLogin=${(token, me) => {
      sessionStorage.setItem('ciao-console-token', token);
      setAuth({ token, me });
    }} />`;
  }
  const t = (k, p) => translate(lang, k, p);
  const screens = SCREENS.filter((s) => !s.needs || session.may(s.needs));
  const current = screens.find((s) => s.id === where.id) ?? screens[0];
  return html`<${Session.Provider} value=${session}>
    <a class="skip" href="#main">${t('nav')} ⇢</a>
    <header class="top">
      <h1>${t('title')}</h1>
      <p id="who">${auth.me.name} · ${t(`r_${auth.me.role}`)}</p>
      <p id="live" role="status" class=${`live ${live}`} data-live=${live}>${t(live === 'live' ? 'live' : 'reconnecting')}</p>
      <${LangMenu} lang=${lang} setLang=${setLang} />
      <button type="button" onClick=${logout}>${t('logout')}</button>
    </header>
    <nav aria-label=${t('nav')} class="menu"><ul>
      ${screens.filter((s) => !s.hidden).map((s) => html`<li><a href=${`#/${s.id}`} aria-current=${s.id === current.id ? 'page' : undefined} data-screen=${s.id}>${t(s.id)}</a></li>`)}
      <li><a href="/dashboard/">${t('records')}</a></li>
    </ul></nav>
    <main id="main" tabindex="-1" ref=${mainRef} data-current=${current.id}>${current.view(where.params)}</main>
  <//>`;
}

render(html`<${App} />`, document.getElementById('root'));
