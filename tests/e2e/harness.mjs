// Harness of Tessera's browser end-to-end tests.
//
// Each test file calls `setup(name)`, which (in node:test `before`) makes a throwaway CA and
// one leaf certificate with openssl, a key set with `tessera keygen`, starts the REAL `tessera
// api` and `tessera web` servers over HTTPS from the built binary, an attacker server for
// https://evil.test (node https, pages set per test), and Chromium through playwright-core.
// Chromium maps the three hostnames to the local ports, so URLs have no port and origins are
// exactly https://app.example.test, https://api.example.test and https://evil.test.
//
// Everything is stopped in `after`, on failure too, and on process exit. Server output goes to
// files under target/e2e/logs/<name>/ and is printed when a test fails.
//
// Environment: TESSERA_BIN (the binary; default $CARGO_TARGET_DIR/debug/tessera),
// CHROMIUM (default /usr/bin/chromium), E2E_OUT (default <repo>/target/e2e),
// E2E_RUST_LOG (servers' RUST_LOG, default info), E2E_DOCS_SCREENSHOTS=1 (also copy the
// README screenshots to docs/screenshots/).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

export { sleep };

export const APP_HOST = 'app.example.test';
export const API_HOST = 'api.example.test';
export const EVIL_HOST = 'evil.test';
export const APP = `https://${APP_HOST}`;
export const API = `https://${API_HOST}`;
export const EVIL = `https://${EVIL_HOST}`;

/** The servers' access-token lifetime and refresh grace window, in seconds. */
export const ACCESS_TTL = 6;
export const GRACE = 2;

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const OUT = path.resolve(process.env.E2E_OUT || path.join(ROOT, 'target', 'e2e'));
export const SCREENSHOTS = path.join(OUT, 'screenshots');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function tesseraBin() {
  if (process.env.TESSERA_BIN) return path.resolve(process.env.TESSERA_BIN);
  const target = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'tessera', 'target');
  return path.join(target, 'debug', 'tessera');
}

/** A password every test account uses (8..128 characters). */
export const PASSWORD = 'correct horse battery staple';

/** A fresh, unique test account. */
export function newUser(prefix = 'user') {
  return { email: `${prefix}-${crypto.randomBytes(5).toString('hex')}@example.test`, password: PASSWORD };
}

// ---------------------------------------------------------------------------------------------
// Processes: every child is killed when the run ends, however it ends.

const children = new Set();
function killAll(signal = 'SIGKILL') {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try { c.kill(signal); } catch { /* already gone */ }
    }
  }
}
process.on('exit', () => killAll('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { killAll('SIGKILL'); process.exit(130); });
}

async function stopChild(child, ms = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), ms);
  await gone;
  clearTimeout(t);
  children.delete(child);
}

async function freePorts(n) {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function makeCerts(dir) {
  const sh = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  sh('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-subj', '/CN=Tessera E2E Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  sh('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${APP_HOST}`);
  fs.writeFileSync(path.join(dir, 'leaf.ext'),
    `subjectAltName=DNS:${APP_HOST},DNS:${API_HOST},DNS:${EVIL_HOST},IP:127.0.0.1\n` +
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  sh('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-out', 'leaf.pem', '-extfile', 'leaf.ext');
  return { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'leaf.pem'), key: path.join(dir, 'leaf.key') };
}

/**
 * An HTTPS request from node (not the browser) to one of the servers, trusting the test CA.
 * @returns {Promise<{status:number, headers:object, text:string, json:any, setCookies:string[]}>}
 */
export function request(ca, port, host, method, urlPath, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
    const h = { host, ...headers };
    if (data !== undefined) {
      h['content-length'] = Buffer.byteLength(data);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
    const req = https.request({ host: '127.0.0.1', port, method, path: urlPath, headers: h, ca, servername: host,
      timeout: 10_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json, setCookies: res.headers['set-cookie'] ?? [] });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${host}${urlPath}: timed out`)));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// The attacker's server: https://evil.test serves whatever the test sets.

function startEvil(tls, port) {
  const pages = new Map();
  const seen = [];
  const server = https.createServer(tls, (req, res) => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url, EVIL);
      seen.push({ method: req.method, path: url.pathname });
      const page = pages.get(url.pathname);
      if (!page) { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('no such page'); return; }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({
      server,
      seen,
      /** Serves `html` at https://evil.test<pathname>; returns the URL. */
      page(pathname, html) { pages.set(pathname, html); return EVIL + pathname; },
      close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
    }));
  });
}

// ---------------------------------------------------------------------------------------------
// The stack: servers, attacker, browser.

export class Stack {
  constructor(name) {
    this.name = name;
    this.logDir = path.join(OUT, 'logs', name);
    // 48 characters; passed as --relay-secret=VALUE because a value may start with '-'.
    this.relaySecret = crypto.randomBytes(36).toString('base64url');
    this.contexts = new Set();
  }

  async start() {
    const bin = tesseraBin();
    if (!fs.existsSync(bin)) throw new Error(`no tessera binary at ${bin}: run scripts/e2e (or cargo build -p tessera-cli)`);
    if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `tessera-e2e-${this.name}-`));
    fs.rmSync(this.logDir, { recursive: true, force: true });
    fs.mkdirSync(this.logDir, { recursive: true });
    const files = makeCerts(this.dir);
    this.caPath = files.ca;
    this.ca = fs.readFileSync(files.ca);
    const tls = { key: fs.readFileSync(files.key), cert: fs.readFileSync(files.cert) };
    const keys = path.join(this.dir, 'keys.json');
    execFileSync(bin, ['keygen', '--out', keys], { stdio: 'pipe' });

    const [apiPort, webPort, evilPort] = await freePorts(3);
    this.ports = { api: apiPort, web: webPort, evil: evilPort };
    this.evil = await startEvil(tls, evilPort);
    this.api = this.spawn('api', bin, ['api',
      '--tls-cert', files.cert, '--tls-key', files.key,
      '--listen', `127.0.0.1:${apiPort}`,
      '--keys', keys,
      '--database-url', `sqlite://${path.join(this.dir, 'e2e.db')}`,
      '--allowed-origin', APP,
      `--relay-secret=${this.relaySecret}`,
      '--access-ttl', `${ACCESS_TTL}s`,
      '--refresh-grace', `${GRACE}s`]);
    await this.ready('api', apiPort, API_HOST);
    this.web = this.spawn('web', bin, ['web',
      '--tls-cert', files.cert, '--tls-key', files.key,
      '--listen', `127.0.0.1:${webPort}`,
      '--public-origin', APP,
      '--api-url', `https://127.0.0.1:${apiPort}`,
      '--api-ca', files.ca,
      '--api-public-url', API,
      `--relay-secret=${this.relaySecret}`,
      '--data-dir', path.join(this.dir, 'web')]);
    await this.ready('web', webPort, APP_HOST);

    this.browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--disable-gpu', '--disable-quic', '--no-proxy-server',
        `--host-resolver-rules=MAP ${APP_HOST} 127.0.0.1:${webPort}, MAP ${API_HOST} 127.0.0.1:${apiPort}, ` +
        `MAP ${EVIL_HOST} 127.0.0.1:${evilPort}, MAP * ~NOTFOUND, EXCLUDE localhost`],
    });
    return this;
  }

  spawn(name, bin, args) {
    const file = path.join(this.logDir, `${name}.log`);
    const fd = fs.openSync(file, 'w');
    const child = spawn(bin, args, {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, RUST_LOG: process.env.E2E_RUST_LOG || 'info', NO_COLOR: '1', RUST_BACKTRACE: '1' },
    });
    fs.closeSync(fd);
    child.logFile = file;
    child.role = name;
    children.add(child);
    return child;
  }

  async ready(name, port, host) {
    const child = this[name];
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`tessera ${name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${this.log(name)}`);
      }
      try {
        const r = await request(this.ca, port, host, 'GET', '/healthz');
        if (r.status === 200) return;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`tessera ${name} not ready after 30 s:\n${this.log(name)}`);
      await sleep(100);
    }
  }

  log(name, lines = 200) {
    try {
      const text = fs.readFileSync(path.join(this.logDir, `${name}.log`), 'utf8').trimEnd().split('\n');
      return text.slice(-lines).join('\n');
    } catch { return '(no log)'; }
  }

  /** Prints the servers' output (on a failure). */
  dumpLogs(title) {
    const out = [`==== ${title}: server output (${this.logDir}) ====`];
    for (const n of ['api', 'web']) out.push(`---- tessera ${n} (last 200 lines) ----`, this.log(n));
    out.push(`---- evil.test requests ----`, JSON.stringify(this.evil?.seen.slice(-40) ?? []));
    process.stderr.write(out.join('\n') + '\n');
  }

  /** A new browser context (closed at the end of the test). */
  async newContext(options = {}) {
    const ctx = await this.browser.newContext({ ignoreHTTPSErrors: true, ...options });
    this.contexts.add(ctx);
    ctx.on('close', () => this.contexts.delete(ctx));
    return ctx;
  }

  async closeContexts() {
    await Promise.all([...this.contexts].map((c) => c.close().catch(() => {})));
    this.contexts.clear();
  }

  /** Saves a screenshot of every open page (on a failure). */
  async failureScreenshots(title) {
    const dir = path.join(OUT, 'failures', this.name);
    fs.mkdirSync(dir, { recursive: true });
    const slug = title.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
    let i = 0;
    for (const ctx of this.contexts) {
      for (const p of ctx.pages()) {
        const file = path.join(dir, `${slug}-${i++}.png`);
        try {
          await p.screenshot({ path: file, timeout: 3000 });
          process.stderr.write(`failure screenshot: ${file} (${p.url()})\n`);
        } catch { /* page gone */ }
      }
    }
  }

  async stop() {
    try { await this.closeContexts(); } catch { /* ignore */ }
    try { await this.browser?.close(); } catch { /* ignore */ }
    await Promise.all([this.web, this.api].filter(Boolean).map((c) => stopChild(c)));
    try { await this.evil?.close(); } catch { /* ignore */ }
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // --- node-side calls (not the browser) -----------------------------------------------------

  /** A request from node to the API (https://api.example.test). */
  apiRequest(method, urlPath, opts = {}) {
    return request(this.ca, this.ports.api, API_HOST, method, urlPath, opts);
  }

  /** A request from node to the web server (https://app.example.test). */
  webRequest(method, urlPath, opts = {}) {
    return request(this.ca, this.ports.web, APP_HOST, method, urlPath, opts);
  }

  /** A client of the API for `user`, outside the browser (its own session). */
  client(user, userAgent = 'tessera-e2e node client') {
    return new ApiClient(this, user, userAgent);
  }
}

/** The API as a non-browser client sees it: cookies from Set-Cookie, CSRF from the login JSON. */
export class ApiClient {
  constructor(stack, user, userAgent) {
    this.stack = stack;
    this.user = user;
    this.userAgent = userAgent;
    this.cookies = new Map();
    this.loggedInAt = 0;
  }

  absorb(res) {
    for (const sc of res.setCookies) {
      const [pair, ...attrs] = sc.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (!value || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async signup() {
    const r = await this.stack.apiRequest('POST', '/auth/signup', { body: this.user, headers: { 'user-agent': this.userAgent } });
    assert.equal(r.status, 201, `signup ${this.user.email}: ${r.status} ${r.text}`);
    return r.json.user;
  }

  async login() {
    const r = await this.stack.apiRequest('POST', '/auth/login', { body: this.user, headers: { 'user-agent': this.userAgent } });
    assert.equal(r.status, 200, `login ${this.user.email}: ${r.status} ${r.text}`);
    this.absorb(r);
    this.csrf = r.json.csrf;
    this.relayCode = r.json.relay_code;
    this.loggedInAt = Date.now();
    return r.json;
  }

  /** A request with this client's cookies (and CSRF on unsafe methods); logs in again when the access token is old. */
  async call(method, urlPath, body) {
    if (Date.now() - this.loggedInAt > (ACCESS_TTL - 2) * 1000) await this.login();
    const headers = { cookie: this.cookieHeader(), 'user-agent': this.userAgent };
    if (!['GET', 'HEAD'].includes(method)) headers['x-csrf-token'] = this.csrf;
    const r = await this.stack.apiRequest(method, urlPath, { headers, body });
    this.absorb(r);
    return r;
  }

  async notes() {
    const r = await this.call('GET', '/notes');
    assert.equal(r.status, 200, `GET /notes: ${r.status} ${r.text}`);
    return r.json.notes;
  }

  async addNote(body) {
    const r = await this.call('POST', '/notes', { body });
    assert.equal(r.status, 201, `POST /notes: ${r.status} ${r.text}`);
    return r.json;
  }
}

// ---------------------------------------------------------------------------------------------
// Test files: `const e2e = setup('name')`, then `e2e.test('title', async ({ stack }) => ...)`.

export function setup(name) {
  const stack = new Stack(name);
  let started = false;
  before(async () => {
    try {
      await stack.start();
      started = true;
    } catch (e) {
      stack.dumpLogs(`${name}: start failed`);
      await stack.stop();
      throw e;
    }
  }, { timeout: 60_000 });
  after(async () => { await stack.stop(); }, { timeout: 30_000 });
  return {
    stack,
    test(title, fn, { timeout = 90_000, todo } = {}) {
      test(title, { timeout, todo }, async (t) => {
        assert.ok(started, 'the stack did not start');
        try {
          await fn({ stack, t });
        } catch (e) {
          if (!todo) {
            await stack.failureScreenshots(title).catch(() => {});
            stack.dumpLogs(`${name} / ${title}`);
          }
          throw e;
        } finally {
          await stack.closeContexts();
        }
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Browser helpers.

export const pathOf = (page) => {
  const u = new URL(page.url());
  return u.pathname + u.search;
};

/**
 * Waits until the page shows a real page: loaded, not the refresh document or the signed-out
 * page (which move on by themselves), with an <h1>.
 */
export async function settle(page, timeout = 20_000) {
  await page.waitForFunction(() => document.readyState === 'complete'
    && !document.documentElement.dataset.tesseraPage
    && document.querySelector('h1') !== null, null, { timeout, polling: 50 });
}

/** Navigates and waits for the page to settle (refresh documents included). */
export async function visit(page, url, timeout) {
  await page.goto(url);
  await settle(page, timeout);
}

/** Signs up through the signup page (which logs in, then goes to `next`). */
export async function signupViaPage(page, user, next = '/') {
  await page.goto(`${APP}/signup${next === '/' ? '' : `?next=${encodeURIComponent(next)}`}`);
  await settle(page);
  await page.fill('#email', user.email);
  await page.fill('#password', user.password);
  await Promise.all([page.waitForURL((u) => u.pathname === new URL(next, APP).pathname), page.click('button[type="submit"]')]);
  await settle(page);
}

/** Signs in through the login page. */
export async function loginViaPage(page, user, next = '/') {
  await page.goto(`${APP}/login${next === '/' ? '' : `?next=${encodeURIComponent(next)}`}`);
  await settle(page);
  assert.equal(await page.textContent('h1'), 'Sign in');
  await page.fill('#email', user.email);
  await page.fill('#password', user.password);
  await Promise.all([page.waitForURL((u) => u.pathname === new URL(next, APP).pathname), page.click('button[type="submit"]')]);
  await settle(page);
}

/** A new context with one page, signed in as `user` (signed up first when `signup`). */
export async function signedIn(stack, user, { signup = false, next = '/', context = {} } = {}) {
  const ctx = await stack.newContext(context);
  const page = await ctx.newPage();
  if (signup) await signupViaPage(page, user, next);
  else await loginViaPage(page, user, next);
  return { ctx, page };
}

/** Calls the API from page script through tessera.js's `api()` (credentials + CSRF header). */
export function pageApi(page, apiPath, init = {}) {
  return page.evaluate(async ([p, i]) => {
    const m = await import('/assets/tessera.js');
    const r = await m.api(p, i);
    const text = await r.text();
    let body = null;
    try { body = JSON.parse(text); } catch { body = text; }
    return { status: r.status, body };
  }, [apiPath, init]);
}

/** The access token's expiry (Unix seconds) that the page was rendered with. */
export async function expiresAt(page) {
  const v = await page.evaluate(() => document.documentElement.dataset.tesseraExpiresAt);
  assert.ok(v, `no data-tessera-expires-at on ${page.url()}`);
  return Number(v);
}

/** Sleeps until `seconds` (Unix) plus a margin have passed. */
export async function sleepUntil(seconds, marginMs = 400) {
  const ms = seconds * 1000 + marginMs - Date.now();
  if (ms > 0) await sleep(ms);
}

/**
 * Stops the page's own timers (like a closed laptop lid), so that the scheduled refresh does
 * not run and the next navigation meets an expired access token. Call before the first page
 * of the context is created; pause with `pauseTimers(ctx)` once it has loaded.
 */
export async function installClock(ctx) {
  await ctx.clock.install();
}
export async function pauseTimers(ctx) {
  await ctx.clock.pauseAt(Date.now() + 200);
}

/**
 * Records a page's traffic and errors. `allow` lists answers that are expected, as
 * `{ method, url, status }`: they are recorded but are not errors.
 */
export function record(page, { allow = [] } = {}) {
  const rec = { navigations: [], responses: [], errors: [], console: [] };
  const isFavicon = (url) => new URL(url).pathname === '/favicon.ico';
  const allowed = (method, url, status) => allow.some((a) => (!a.method || a.method === method) && a.url === url && (!a.status || a.status === status));
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) rec.navigations.push(f.url()); });
  const answered = new WeakSet();
  page.on('response', (r) => {
    const req = r.request();
    answered.add(req);
    rec.responses.push({ url: r.url(), method: req.method(), status: r.status(), refresh: r.headers()['x-tessera-refresh'] === '1',
      navigation: req.isNavigationRequest() });
    if (r.status() >= 400 && !isFavicon(r.url()) && !allowed(req.method(), r.url(), r.status())) rec.errors.push(`${req.method()} ${r.url()} -> ${r.status()}`);
  });
  page.on('requestfailed', (req) => {
    // A response whose body the page never read is cancelled when the page moves on
    // (net::ERR_ABORTED after the status arrived): not a failure.
    if (answered.has(req) && req.failure()?.errorText === 'net::ERR_ABORTED') return;
    if (!isFavicon(req.url())) rec.errors.push(`request failed: ${req.method()} ${req.url()} (${req.failure()?.errorText})`);
  });
  page.on('pageerror', (e) => rec.errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    rec.console.push(`${m.type()}: ${m.text()}`);
    const url = m.location()?.url;
    const expected = url && /^Failed to load resource/.test(m.text()) && allow.some((a) => a.url === url);
    if (m.type() === 'error' && !(url && isFavicon(url)) && !expected) rec.errors.push(`console error: ${m.text()} (${url ?? ''})`);
  });
  rec.clean = () => assert.deepEqual(rec.errors, [], `errors on ${page.url()}`);
  rec.sawLogin = () => rec.navigations.some((u) => new URL(u).pathname === '/login');
  return rec;
}

/** Fails if the page renders an error (`[data-error]`). */
export async function assertNoErrorElement(page) {
  const n = await page.locator('[data-error]').count();
  assert.equal(n, 0, `error element on ${page.url()}: ${n ? await page.locator('[data-error]').first().textContent() : ''}`);
}

/** The note bodies on a rendered notes page. */
export async function noteBodies(page) {
  return page.locator('#notes .note-body').allTextContents();
}

export function screenshotPath(name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  return path.join(SCREENSHOTS, `${name}.png`);
}
