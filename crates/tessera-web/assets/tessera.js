// @ts-check
/**
 * tessera.js: Tessera's browser client.
 *
 * The access and refresh tokens live only in HttpOnly cookies, where no script can read them;
 * this module never writes a token to localStorage, sessionStorage or a readable cookie. The
 * only token a page holds is the masked backend CSRF token in
 * `<input type="hidden" id="backend-csrf">`.
 *
 * Pages configure it with data attributes on `<html>` (`data-tessera-api`,
 * `data-tessera-relay-mode`, the backend's paths and names) and opt into behaviours with
 * `data-tessera-page` (`refresh`, `logged-out`), `data-tessera-form` (`login`, `signup`) and
 * `data-tessera-expires-at` (refresh shortly before the access token expires, one tab at a
 * time through the Web Locks API).
 *
 * @module tessera
 */

/**
 * @typedef {object} TesseraConfig
 * @property {string} api               How the browser reaches the API (origin, no trailing slash).
 * @property {'code'|'token'} relayMode  Relay codes, or the tokens themselves in headers.
 * @property {string} loginPath
 * @property {string} signupPath
 * @property {string} refreshPath
 * @property {string} logoutPath
 * @property {string} csrfHeader        Header carrying the CSRF token on unsafe API calls.
 * @property {string} accessField       JSON field of the access token (token mode).
 * @property {string} csrfField         JSON field of the CSRF token.
 * @property {string} relayCodeField    JSON field of the relay code (code mode).
 * @property {string} relayAccessHeader Header for the access token (token mode).
 * @property {string} relayCsrfHeader   Header for the CSRF token (token mode).
 */

/** An error answered by the API or the web server. */
export class TesseraError extends Error {
  /**
   * @param {number} status HTTP status (0 for a network failure).
   * @param {string} message A message safe to show.
   */
  constructor(status, message) {
    super(message);
    this.name = 'TesseraError';
    this.status = status;
  }
}

/** @returns {TesseraConfig} */
export function config() {
  const d = document.documentElement.dataset;
  return {
    api: d.tesseraApi || '',
    relayMode: d.tesseraRelayMode === 'token' ? 'token' : 'code',
    loginPath: d.tesseraLoginPath || '/auth/login',
    signupPath: d.tesseraSignupPath || '/auth/signup',
    refreshPath: d.tesseraRefreshPath || '/auth/refresh',
    logoutPath: d.tesseraLogoutPath || '/auth/logout',
    csrfHeader: d.tesseraCsrfHeader || 'X-CSRF-Token',
    accessField: d.tesseraAccessField || 'access',
    csrfField: d.tesseraCsrfField || 'csrf',
    relayCodeField: d.tesseraRelayCodeField || 'relay_code',
    relayAccessHeader: d.tesseraRelayAccessHeader || 'X-Backend-Access-Token',
    relayCsrfHeader: d.tesseraRelayCsrfHeader || 'X-Backend-CSRF-Token',
  };
}

/** @returns {string} the masked backend CSRF token of this page. */
export function backendCsrf() {
  const el = /** @type {HTMLInputElement|null} */ (document.getElementById('backend-csrf'));
  return el ? el.value : '';
}

/** @param {string} value */
function setBackendCsrf(value) {
  const el = /** @type {HTMLInputElement|null} */ (document.getElementById('backend-csrf'));
  if (el && value) el.value = value;
}

/**
 * Reads a problem response's title or detail, for display.
 * @param {Response} res
 * @returns {Promise<string>}
 */
async function problemMessage(res) {
  try {
    const body = await res.json();
    return body.detail || body.title || body.error || `Request failed (${res.status})`;
  } catch {
    return `Request failed (${res.status})`;
  }
}

/**
 * Hands the web server what a login or refresh answered: the relay code (code mode) or the
 * access and CSRF tokens (token mode). The web server verifies and keeps them in its own
 * encrypted HttpOnly cookie.
 * @param {Record<string, any>} body the API's login or refresh answer
 * @returns {Promise<void>}
 */
export async function relay(body) {
  const c = config();
  /** @type {Record<string, string>} */
  const headers = {};
  if (c.relayMode === 'code') {
    headers['X-Relay-Code'] = String(body[c.relayCodeField] || '');
  } else {
    headers[c.relayAccessHeader] = String(body[c.accessField] || '');
    headers[c.relayCsrfHeader] = String(body[c.csrfField] || '');
  }
  const res = await fetch('/session', { method: 'POST', credentials: 'same-origin', headers });
  if (!res.ok) throw new TesseraError(res.status, 'Signing in to this site failed.');
  if (body[c.csrfField]) setBackendCsrf(String(body[c.csrfField]));
}

/**
 * Logs in on the API (which sets its HttpOnly cookies) and relays to the web server.
 * @param {string} email
 * @param {string} password
 * @returns {Promise<Record<string, any>>} the user
 */
export async function login(email, password) {
  const c = config();
  const res = await fetch(c.api + c.loginPath, {
    method: 'POST',
    credentials: 'include',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  }).catch(() => { throw new TesseraError(0, 'The service cannot be reached.'); });
  if (res.status === 401) throw new TesseraError(401, 'Wrong email or password.');
  if (res.status === 429) throw new TesseraError(429, 'Too many attempts. Try again later.');
  if (!res.ok) throw new TesseraError(res.status, await problemMessage(res));
  const body = await res.json();
  await relay(body);
  return body.user;
}

/**
 * Creates an account, then logs in.
 * @param {string} email
 * @param {string} password
 * @returns {Promise<Record<string, any>>} the user
 */
export async function signup(email, password) {
  const c = config();
  const res = await fetch(c.api + c.signupPath, {
    method: 'POST',
    credentials: 'include',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  }).catch(() => { throw new TesseraError(0, 'The service cannot be reached.'); });
  if (res.status === 409) throw new TesseraError(409, 'An account with this email already exists.');
  if (!res.ok) throw new TesseraError(res.status, await problemMessage(res));
  return login(email, password);
}

/**
 * Runs `fn` while holding the cross-tab refresh lock (Web Locks API), or directly where the
 * browser has none; the API's grace window covers the race then.
 * @template T
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
function withRefreshLock(fn) {
  const locks = /** @type {any} */ (navigator).locks;
  return locks && typeof locks.request === 'function' ? locks.request('tessera-refresh', fn) : fn();
}

/**
 * Refreshes the session: the API rotates its refresh cookie (sent with credentials, guarded by
 * the CSRF header) and the new access token is relayed to the web server.
 * @returns {Promise<Record<string, any>>} the API's refresh answer
 */
export function refresh() {
  return withRefreshLock(async () => {
    const c = config();
    // Another tab may have refreshed meanwhile; a backend that rotates its CSRF secret on
    // refresh would then refuse this page's copy. Take the web server's current one.
    try {
      const current = await fetch('/session/csrf', { credentials: 'same-origin', cache: 'no-store' });
      if (current.ok) setBackendCsrf(String((await current.json()).csrf || ''));
    } catch { /* keep the page's token */ }
    const res = await fetch(c.api + c.refreshPath, {
      method: 'POST',
      credentials: 'include',
      headers: { [c.csrfHeader]: backendCsrf() },
    }).catch(() => { throw new TesseraError(0, 'The service cannot be reached.'); });
    if (!res.ok) throw new TesseraError(res.status, 'Your session has ended.');
    const body = await res.json();
    await relay(body);
    return body;
  });
}

/**
 * Ends the session on the API from the browser: only the browser can reach the API's
 * cookies, so this clears them. Once the access token has expired, the refresh cookie and the
 * CSRF header end the session.
 * @returns {Promise<void>}
 */
export async function logout() {
  const c = config();
  await fetch(c.api + c.logoutPath, {
    method: 'POST',
    credentials: 'include',
    headers: { [c.csrfHeader]: backendCsrf() },
  }).catch(() => undefined);
}

/**
 * `fetch` for the page's own calls to the API: credentials included, and the CSRF header on
 * unsafe methods. `path` must be an absolute path on the API.
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<Response>}
 */
export function api(path, init = {}) {
  if (!path.startsWith('/') || path.startsWith('//')) {
    return Promise.reject(new TesseraError(0, 'api() takes a path on the API'));
  }
  const c = config();
  const method = (init.method || 'GET').toUpperCase();
  const headers = new Headers(init.headers || {});
  if (!['GET', 'HEAD', 'OPTIONS'].includes(method)) headers.set(c.csrfHeader, backendCsrf());
  if (typeof init.body === 'string' && !headers.has('Content-Type')) headers.set('Content-Type', 'application/json');
  return fetch(c.api + path, { ...init, method, headers, credentials: 'include' });
}

/** @param {string} next */
function loginUrl(next) {
  return '/login?next=' + encodeURIComponent(next);
}

/**
 * A same-origin relative path, or `/`.
 * @param {string|null|undefined} next
 */
export function safeNext(next) {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.includes('\\') || /[\s\u0000-\u001f]/.test(next)) return '/';
  return next;
}

/** @param {HTMLFormElement} form @param {string} message */
function showError(form, message) {
  const el = form.querySelector('[role="alert"]');
  if (el) el.textContent = message;
}

/** @param {HTMLFormElement} form @param {(email: string, password: string) => Promise<unknown>} action */
function bindForm(form, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const button = form.querySelector('button[type="submit"]');
    if (button) button.setAttribute('disabled', '');
    showError(form, '');
    try {
      await action(String(data.get('email') || ''), String(data.get('password') || ''));
      location.assign(safeNext(form.dataset.next));
    } catch (e) {
      showError(form, e instanceof TesseraError ? e.message : 'Something went wrong.');
      if (button) button.removeAttribute('disabled');
    }
  });
}

/** Refreshes shortly before the access token expires, and again after each refresh. */
function scheduleRefresh() {
  const d = document.documentElement.dataset;
  const expiresAt = Number(d.tesseraExpiresAt || 0) * 1000;
  const margin = Number(d.tesseraRefreshMargin || 30) * 1000;
  if (!expiresAt) return;
  const jitter = Math.random() * Math.min(2000, margin / 4);
  const delay = Math.max(0, expiresAt - margin - Date.now() - jitter);
  setTimeout(async () => {
    try {
      const body = await refresh();
      const next = Date.parse(body.access_expires_at || '');
      if (!Number.isNaN(next)) {
        document.documentElement.dataset.tesseraExpiresAt = String(Math.floor(next / 1000));
        scheduleRefresh();
      }
    } catch (e) {
      if (e instanceof TesseraError && e.status === 401) location.assign(loginUrl(location.pathname + location.search));
    }
  }, delay);
}

function boot() {
  const page = document.documentElement.dataset.tesseraPage;
  if (page === 'refresh') {
    const next = safeNext(document.documentElement.dataset.next);
    refresh().then(
      () => location.replace(next),
      () => location.replace(loginUrl(next)),
    );
    return;
  }
  if (page === 'logged-out') {
    logout().finally(() => location.replace('/login'));
    return;
  }
  for (const form of document.querySelectorAll('form[data-tessera-form]')) {
    const f = /** @type {HTMLFormElement} */ (form);
    if (f.dataset.tesseraForm === 'login') bindForm(f, login);
    if (f.dataset.tesseraForm === 'signup') bindForm(f, signup);
  }
  scheduleRefresh();
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
}
