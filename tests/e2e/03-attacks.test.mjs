// Scenarios 7-9: what script in the page can reach (an XSS stand-in), what a cross-site
// attacker page can do, and the attributes of every cookie in the jar.

import assert from 'node:assert/strict';
import {
  APP, API, setup, newUser, visit, signedIn, signupViaPage, pageApi, record, noteBodies,
} from './harness.mjs';

const e2e = setup('attacks');

const JWT = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Everything script in the page can read that could hold a token. */
function readable(page) {
  return page.evaluate(() => {
    const values = [];
    for (const el of document.querySelectorAll('*')) {
      const who = { tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute('name') ?? '' };
      for (const a of el.attributes) values.push({ ...who, attr: a.name, value: a.value });
      if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) values.push({ ...who, attr: '.value', value: el.value });
    }
    return {
      cookie: document.cookie,
      local: Object.keys(localStorage).length,
      session: Object.keys(sessionStorage).length,
      html: document.documentElement.outerHTML,
      values,
      backendCsrf: document.getElementById('backend-csrf')?.value ?? null,
    };
  });
}

function checkNoTokens(seen, jar, page) {
  assert.equal(seen.cookie, '', `document.cookie is empty on ${page}`);
  assert.equal(seen.local, 0, 'localStorage is empty');
  assert.equal(seen.session, 0, 'sessionStorage is empty');
  assert.doesNotMatch(seen.html, JWT, `no JWT in the DOM of ${page}`);
  for (const c of jar) {
    assert.ok(c.value.length >= 16, `${c.name} is a real token`);
    assert.ok(!seen.html.includes(c.value), `the value of ${c.name} is not in the DOM of ${page}`);
    assert.ok(!seen.values.some((v) => v.value.includes(c.value)), `the value of ${c.name} is in no attribute or input`);
  }
  // The only long token-like values: the masked backend CSRF in #backend-csrf, and the web
  // server's own form tokens (csrf_token inputs, which are no API credential).
  const tokenLike = seen.values.filter((v) => /^[A-Za-z0-9_\-+/=]{24,}$/.test(v.value) && !UUID.test(v.value)
    && !(['action', 'href', 'src'].includes(v.attr) && v.value.startsWith('/'))); // links are not tokens
  for (const v of tokenLike) {
    const ok = (v.tag === 'input' && v.id === 'backend-csrf') || (v.tag === 'input' && v.name === 'csrf_token');
    assert.ok(ok, `unexpected token-like value in <${v.tag} id="${v.id}" name="${v.name}"> ${v.attr}`);
  }
  assert.ok(seen.backendCsrf && tokenLike.some((v) => v.id === 'backend-csrf'), 'the masked backend CSRF is in #backend-csrf');
  assert.ok(!jar.some((c) => c.value === seen.backendCsrf), 'the masked CSRF is no cookie value');
}

e2e.test('7 script in the notes page (an XSS stand-in) cannot obtain any token', async ({ stack }) => {
  const user = newUser('xss');
  const { ctx, page } = await signedIn(stack, user, { signup: true });
  await pageApi(page, '/notes', { method: 'POST', body: JSON.stringify({ body: 'a note' }) });
  await visit(page, `${APP}/`);
  const jar = await ctx.cookies();
  assert.equal(jar.length, 3, 'access, refresh and web cookies');

  const notes = await readable(page);
  checkNoTokens(notes, jar, '/');
  await visit(page, `${APP}/sessions`);
  const sessions = await readable(page);
  checkNoTokens(sessions, jar, '/sessions');

  // What the page's own API calls answer carries no token either.
  const me = await pageApi(page, '/auth/me');
  assert.equal(me.status, 200);
  assert.doesNotMatch(JSON.stringify(me.body), JWT);
  const refreshed = await page.evaluate(async () => (await import('/assets/tessera.js')).refresh());
  assert.deepEqual(Object.keys(refreshed).sort(), ['access_expires_at', 'csrf', 'relay_code'], 'a refresh answers no access or refresh token');
  const after = await ctx.cookies();
  for (const c of after) assert.ok(!JSON.stringify(refreshed).includes(c.value), `${c.name} is not in the refresh answer`);
  // The relay code is worthless to script: redeeming needs the web server's secret, and the web
  // server's relay endpoint answers no token.
  const relay = await page.evaluate(async (api) => {
    const r = await fetch(api + '/auth/relay', { method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: 'x' }) });
    return r.status;
  }, API);
  assert.equal(relay, 401);
  const session = await page.evaluate(async () => {
    const r = await fetch('/session', { method: 'POST', headers: { 'X-Relay-Code': 'x' } });
    return { status: r.status, text: await r.text() };
  });
  assert.doesNotMatch(session.text, JWT);
});

e2e.test('7b the CSRF tokens in a page are masked afresh on every response (design: "changes on every response")', async ({ stack }) => {
  const { page } = await signedIn(stack, newUser('mask'), { signup: true });
  const first = await page.inputValue('#backend-csrf');
  const firstForm = await page.locator('input[name="csrf_token"]').first().inputValue();
  await visit(page, `${APP}/sessions`);
  const second = await page.inputValue('#backend-csrf');
  const secondForm = await page.locator('input[name="csrf_token"]').first().inputValue();
  assert.notEqual(first, second, 'the backend CSRF is re-masked for each page');
  assert.notEqual(firstForm, secondForm, 'the web server\'s own synchronizer token is re-masked for each page');
  // Every mask still verifies: the page's own API call with the new mask succeeds.
  const created = await pageApi(page, '/notes', { method: 'POST', body: JSON.stringify({ body: 'masked afresh' }) });
  assert.equal(created.status, 201);
});

e2e.test('8 an attacker page on https://evil.test cannot change the victim\'s state', async ({ stack }) => {
  const victim = newUser('victim');
  const { ctx, page: home } = await signedIn(stack, victim, { signup: true });
  for (const body of ['victim note one', 'victim note two']) {
    assert.equal((await pageApi(home, '/notes', { method: 'POST', body: JSON.stringify({ body }) })).status, 201);
  }
  const session = (await pageApi(home, '/auth/me')).body.session.id;
  const observer = stack.client(victim, 'e2e observer');
  const victimNotes = (await observer.notes()).map((n) => n.body).sort();
  assert.deepEqual(victimNotes, ['victim note one', 'victim note two']);

  // The attacker has an account of their own.
  const attacker = stack.client(newUser('attacker'), 'attacker script');
  await attacker.signup();
  await attacker.login();
  await attacker.addNote('ATTACKER NOTE');

  const intact = async (what) => {
    assert.deepEqual((await observer.notes()).map((n) => n.body).sort(), victimNotes, `${what}: notes unchanged`);
    await visit(home, `${APP}/`);
    assert.equal(new URL(home.url()).pathname, '/', `${what}: still signed in`);
    assert.deepEqual((await noteBodies(home)).sort(), victimNotes, `${what}: the victim's own notes`);
    const me = await pageApi(home, '/auth/me');
    assert.equal(me.status, 200, `${what}: API session alive`);
    assert.equal(me.body.user.email, victim.email, `${what}: signed in as themselves`);
    assert.equal(me.body.session.id, session, `${what}: the same session`);
    const names = (await ctx.cookies()).map((c) => c.name).sort();
    assert.deepEqual(names, ['__Host-tessera-access', '__Host-tessera-web', '__Secure-tessera-refresh'], `${what}: cookies kept`);
  };

  const evil = await ctx.newPage(); // a tab of the victim's own browser
  const rec = record(evil);
  const appStatus = (path) => rec.responses.filter((r) => r.url === APP + path).map((r) => r.status);

  // 1. Cross-site form POSTs to the web server (auto-submitted, as a CSRF page does).
  const forms = {
    '/notes': { body: 'pwned', csrf_token: 'x' },
    '/logout': { csrf_token: 'x' },
    '/logout-all': { csrf_token: 'x' },
    [`/sessions/${session}/revoke`]: { csrf_token: 'x' },
    '/session': { code: attacker.relayCode },
  };
  for (const [path, fields] of Object.entries(forms)) {
    const inputs = Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`).join('');
    const url = stack.evil.page(`/form${path.replace(/\//g, '-')}`,
      `<!doctype html><title>win a prize</title><form method="POST" action="${APP}${path}">${inputs}</form><script>document.forms[0].submit()</script>`);
    const [res] = await Promise.all([evil.waitForResponse((r) => r.url() === APP + path), evil.goto(url)]);
    assert.equal(res.status(), 403, `cross-site form POST ${path} is refused`);
  }
  await intact('after cross-site forms');

  // 2. Credentialed fetches to the API and the web server from the attacker's page.
  await evil.goto(stack.evil.page('/fetch', '<!doctype html><title>fetch</title><p>hello'));
  const fetched = await evil.evaluate(async ([api, app]) => {
    const attempt = async (url, init) => {
      try { const r = await fetch(url, init); return r.type === 'opaque' ? 'opaque' : `readable ${r.status}`; } catch { return 'blocked'; }
    };
    return {
      listNotes: await attempt(api + '/notes', { credentials: 'include' }),
      postJson: await attempt(api + '/notes', { method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body: '{"body":"pwned"}' }),
      postText: await attempt(api + '/notes', { method: 'POST', credentials: 'include', body: '{"body":"pwned"}' }),
      me: await attempt(api + '/auth/me', { credentials: 'include' }),
      refresh: await attempt(api + '/auth/refresh', { method: 'POST', credentials: 'include' }),
      logoutNoCors: await attempt(api + '/auth/logout', { method: 'POST', credentials: 'include', mode: 'no-cors' }),
      appNotes: await attempt(app + '/notes', { method: 'POST', credentials: 'include', mode: 'no-cors',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'body=pwned&csrf_token=x' }),
    };
  }, [API, APP]);
  assert.deepEqual(fetched, { listNotes: 'blocked', postJson: 'blocked', postText: 'blocked', me: 'blocked', refresh: 'blocked',
    logoutNoCors: 'blocked', appNotes: 'opaque' }, 'the API answers no cross-site read (no-cors: blocked by CORP same-site)');
  await intact('after cross-site fetches');

  // 3. Login CSRF: plant the attacker's own session through the relay endpoint.
  const code = (await attacker.login()).relay_code;
  await evil.goto(stack.evil.page('/relay', '<!doctype html><title>relay</title><p>hello'));
  const relayed = await evil.evaluate(async ([app, code]) => {
    const out = {};
    try { await fetch(app + '/session', { method: 'POST', credentials: 'include', headers: { 'X-Relay-Code': code } }); out.cors = 'sent'; } catch { out.cors = 'blocked'; }
    try { const r = await fetch(app + '/session', { method: 'POST', credentials: 'include', mode: 'no-cors', headers: { 'X-Relay-Code': code } }); out.noCors = r.type; } catch { out.noCors = 'blocked'; }
    return out;
  }, [APP, code]);
  assert.equal(relayed.cors, 'blocked', 'the X-Relay-Code header needs a preflight, which the web server does not grant');
  const form = stack.evil.page('/relay-form', `<!doctype html><form method="POST" action="${APP}/session"><input name="X-Relay-Code" value="${code}"></form><script>document.forms[0].submit()</script>`);
  const [planted] = await Promise.all([evil.waitForResponse((r) => r.url() === `${APP}/session`), evil.goto(form)]);
  assert.equal(planted.status(), 403);
  assert.deepEqual(appStatus('/session').filter((s) => s !== 403), [], 'every relay attempt was refused');
  // The code was never exchanged by the web server: it is still good (single use) for its owner.
  const redeem = await stack.apiRequest('POST', '/auth/relay', { headers: { authorization: `Bearer ${stack.relaySecret}` }, body: { code } });
  assert.equal(redeem.status, 200, 'the attacker\'s relay code is unused');
  await intact('after login CSRF');
  assert.ok(!(await noteBodies(home)).includes('ATTACKER NOTE'));

  // 4. Top-level GET navigations to state-changing paths.
  for (const path of ['/logout', '/logout-all', `/sessions/${session}/revoke`, '/notes']) {
    const url = stack.evil.page(`/nav${path.replace(/\//g, '-')}`, `<!doctype html><a id="go" href="${APP}${path}">free stuff</a>`);
    await evil.goto(url);
    const [res] = await Promise.all([evil.waitForResponse((r) => r.url() === APP + path), evil.click('#go')]);
    assert.ok([404, 405].includes(res.status()), `GET ${path} changes nothing (${res.status()})`);
  }
  await intact('after top-level GETs');

  // 5. Framing the app (clickjacking): refused by frame-ancestors and X-Frame-Options.
  for (const path of ['/', '/login', '/sessions']) {
    const url = stack.evil.page(`/frame${path.replace(/\//g, '-')}`, `<!doctype html><title>frame</title><iframe id="f" src="${APP}${path}" width="800" height="600"></iframe>`);
    const framed = [];
    const onResponse = (r) => { if (r.frame() !== evil.mainFrame() && r.url().startsWith(APP) && r.request().isNavigationRequest()) framed.push(r); };
    evil.on('response', onResponse);
    await evil.goto(url);
    await evil.waitForLoadState('load');
    await evil.waitForTimeout(300);
    evil.off('response', onResponse);
    assert.ok(framed.length >= 1, `the frame requested ${path}`);
    const last = framed.at(-1);
    const headers = await last.allHeaders();
    assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    assert.equal(headers['x-frame-options'], 'DENY');
    const child = evil.frames().find((f) => f !== evil.mainFrame());
    assert.ok(child, 'the iframe exists');
    assert.ok(!child.url().startsWith(APP), `the app did not render in the frame (${child.url()})`);
    const content = await child.content().catch(() => '');
    assert.ok(!/Your notes|Sign in|Devices/.test(content), 'no app content in the frame');
  }
  await intact('after framing');
});

e2e.test('9 every cookie: HttpOnly, Secure, SameSite=Strict, __Host-/__Secure-, host-only, under 4096 bytes', async ({ stack }) => {
  const user = newUser('cookies');
  const ctx = await stack.newContext();
  const page = await ctx.newPage();
  const raw = [];
  page.on('response', async (r) => {
    for (const h of await r.headersArray()) if (h.name.toLowerCase() === 'set-cookie') raw.push({ url: r.url(), value: h.value });
  });
  await signupViaPage(page, user);
  await page.evaluate(async () => (await import('/assets/tessera.js')).refresh()); // rotation sets them again
  await visit(page, `${APP}/`);

  const jar = await ctx.cookies();
  const byHost = (h) => jar.filter((c) => c.domain === h).map((c) => c.name).sort();
  assert.deepEqual(byHost('app.example.test'), ['__Host-tessera-web']);
  assert.deepEqual(byHost('api.example.test'), ['__Host-tessera-access', '__Secure-tessera-refresh']);
  assert.equal(jar.length, 3, 'no other cookie anywhere');
  for (const c of jar) {
    const id = `${c.domain} ${c.name}`;
    assert.equal(c.httpOnly, true, `${id} HttpOnly`);
    assert.equal(c.secure, true, `${id} Secure`);
    assert.equal(c.sameSite, 'Strict', `${id} SameSite=Strict`);
    assert.ok(!c.domain.startsWith('.'), `${id} is host-only`);
    assert.ok(c.name.startsWith('__Host-') || c.name.startsWith('__Secure-'), `${id} has a prefix`);
    if (c.name.startsWith('__Host-')) assert.equal(c.path, '/', `${id} path`);
    if (c.name === '__Secure-tessera-refresh') assert.equal(c.path, '/auth', 'the refresh cookie goes to /auth only');
    assert.ok(Buffer.byteLength(c.name + c.value) < 4096, `${id} is ${Buffer.byteLength(c.name + c.value)} bytes`);
  }

  // What the servers sent, attributes included.
  assert.ok(raw.length >= 6, `Set-Cookie headers seen: ${raw.length}`);
  for (const { url, value } of raw) {
    const attrs = value.split(';').map((a) => a.trim().toLowerCase());
    assert.ok(Buffer.byteLength(value) < 4096, `${url}: Set-Cookie is ${Buffer.byteLength(value)} bytes`);
    assert.ok(!attrs.some((a) => a.startsWith('domain')), `${url}: no Domain in ${value.slice(0, 40)}`);
    for (const a of ['secure', 'httponly', 'samesite=strict']) assert.ok(attrs.includes(a), `${url}: ${a} in ${value.slice(0, 40)}`);
  }
  assert.ok(!raw.some(({ value }) => JWT.test(value) && value.startsWith('__Host-tessera-web')), 'the web server\'s cookie holds no JWT');
});
