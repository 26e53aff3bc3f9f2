// Scenarios 1-4: signup and login through the pages, server-rendered notes, the page's forms
// and its own API calls, silent refresh (one tab, an open tab's scheduled refresh, two tabs at once).

import assert from 'node:assert/strict';
import {
  APP, API, setup, newUser, settle, visit, signupViaPage, loginViaPage, signedIn, pageApi,
  expiresAt, sleepUntil, installClock, pauseTimers, record, assertNoErrorElement, noteBodies, pathOf,
} from './harness.mjs';

const e2e = setup('flows');

function decodeEntities(text) {
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (all, e) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return named[e] ?? all;
  });
}

e2e.test('1 signup, then login through the pages; the notes page is rendered on the server with the API\'s notes', async ({ stack }) => {
  const user = newUser('flows1');

  // Sign up on the page (tessera.js creates the account on the API, logs in and relays).
  const a = await stack.newContext();
  const pa = await a.newPage();
  const ra = record(pa);
  await signupViaPage(pa, user);
  assert.equal(pathOf(pa), '/');
  assert.equal(await pa.textContent('h1'), 'Your notes');
  assert.equal(await pa.locator('#no-notes').count(), 1, 'a new account has no notes');
  ra.clean();

  // Log in on another browser through the login page, coming back to where the user asked to go.
  const b = await stack.newContext();
  const pb = await b.newPage();
  const rb = record(pb);
  await pb.goto(`${APP}/sessions`);
  await settle(pb);
  assert.equal(new URL(pb.url()).pathname, '/login', 'a signed-out visit goes to the login page');
  assert.equal(new URL(pb.url()).searchParams.get('next'), '/sessions');
  await loginViaPage(pb, user, '/sessions');
  assert.equal(await pb.textContent('h1'), 'Devices');
  assert.equal(await pb.locator('#sessions li').count(), 2, 'two logins, two devices');

  // Notes created through the API (a separate, non-browser client) appear in the server's HTML.
  const api = stack.client(user);
  await api.login();
  const bodies = ['First note, from the API', 'Second <b>note</b> & "quotes"'];
  for (const b of bodies) await api.addNote(b);
  const res = await pb.goto(`${APP}/`);
  assert.equal(res.status(), 200);
  assert.notEqual(res.headers()['x-tessera-refresh'], '1', 'a fresh token needs no refresh');
  const html = await res.text();
  // The notes as the server wrote them (escaped text, no markup), decoded.
  const rendered = [...html.matchAll(/<p class="note-body">([^<]*)<\/p>/g)].map((m) => decodeEntities(m[1]));
  assert.deepEqual(rendered.sort(), [...bodies].sort(), 'the server-rendered HTML has the notes');
  assert.ok(!html.includes('<b>'), 'note text is never markup');
  await settle(pb);
  assert.deepEqual((await noteBodies(pb)).sort(), [...bodies].sort());
  assert.equal(await pb.locator('#notes b').count(), 0);
  await assertNoErrorElement(pb);
  rb.clean();
});

e2e.test('2 notes: add with the page form (web CSRF), add from page script to the API (backend CSRF), delete', async ({ stack }) => {
  const user = newUser('flows2');
  const { page } = await signedIn(stack, user, { signup: true });
  const rec = record(page);

  // The page's own form: POST /notes on the web server with its synchronizer token.
  await page.fill('#note-body', 'Written in the form');
  await Promise.all([page.waitForURL(`${APP}/`), page.click('form[action="/notes"] button[type="submit"]')]);
  await settle(page);
  assert.deepEqual(await noteBodies(page), ['Written in the form']);

  // Page script straight to the API, with the backend CSRF token from the hidden input.
  const created = await page.evaluate(async () => {
    const r = await (await import('/assets/tessera.js')).api('/notes', { method: 'POST', body: JSON.stringify({ body: 'x' }) });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(created.status, 201, JSON.stringify(created));
  assert.equal(created.body.body, 'x');

  // Without the CSRF header the API refuses the same call from the same page.
  const noCsrf = await page.evaluate(async (api) => {
    const r = await fetch(api + '/notes', { method: 'POST', credentials: 'include',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ body: 'no csrf' }) });
    return r.status;
  }, API);
  assert.equal(noCsrf, 403, 'a cookie-authenticated POST without X-CSRF-Token is refused');

  await visit(page, `${APP}/`);
  assert.deepEqual((await noteBodies(page)).sort(), ['Written in the form', 'x'].sort());

  // A form with a wrong synchronizer token is refused by the web server.
  await page.fill('#note-body', 'forged token');
  await page.evaluate(() => { document.querySelector('form[action="/notes"] input[name="csrf_token"]').value = 'AAAA'; });
  const [forged] = await Promise.all([page.waitForResponse((r) => r.url() === `${APP}/notes`), page.click('form[action="/notes"] button[type="submit"]')]);
  assert.equal(forged.status(), 403);
  await visit(page, `${APP}/`);
  assert.equal((await noteBodies(page)).length, 2, 'the forged form changed nothing');
  rec.errors.length = 0; // the 403s above were the point

  // Delete one with its form.
  const li = page.locator('#notes li', { hasText: 'Written in the form' });
  await Promise.all([page.waitForURL(`${APP}/`), li.locator('button', { hasText: 'Delete' }).click()]);
  await settle(page);
  assert.deepEqual(await noteBodies(page), ['x']);
  const viaApi = await pageApi(page, '/notes');
  assert.deepEqual(viaApi.body.notes.map((n) => n.body), ['x']);
  await assertNoErrorElement(page);
  rec.clean();
});

e2e.test('3 the access token expires while a tab sleeps; the next navigation refreshes silently and lands where asked', async ({ stack }) => {
  const user = newUser('flows3');
  const ctx = await stack.newContext();
  await installClock(ctx);
  const page = await ctx.newPage();
  await signupViaPage(page, user);
  await pauseTimers(ctx); // the tab's own refresh timer does not run: a sleeping laptop
  const exp = await expiresAt(page);
  const rec = record(page);
  await sleepUntil(exp); // past the access token's lifetime
  const nav = Date.now();
  await Promise.all([page.waitForURL(`${APP}/sessions`), page.click('a[href="/sessions"]')]);
  await settle(page);
  assert.equal(pathOf(page), '/sessions', 'the user stays on the page they asked for');
  assert.equal(await page.textContent('h1'), 'Devices');
  assert.ok(!rec.sawLogin(), `no login prompt: ${rec.navigations.join(' -> ')}`);
  const refreshDoc = rec.responses.find((r) => r.navigation && r.refresh);
  assert.ok(refreshDoc, 'the web server answered with the refresh document');
  assert.equal(new URL(refreshDoc.url).pathname, '/sessions');
  const apiRefresh = rec.responses.find((r) => r.url === `${API}/auth/refresh` && r.method === 'POST');
  assert.equal(apiRefresh?.status, 200, 'the API refreshed');
  assert.equal(rec.responses.find((r) => r.url === `${APP}/session`)?.status, 204, 'the new code was relayed');
  assert.ok(await expiresAt(page) > exp, 'the page carries the new expiry');
  await assertNoErrorElement(page);
  rec.clean();
  console.log(`refresh round trip: ${Date.now() - nav} ms`);
});

e2e.test('3b an open tab refreshes by itself shortly before expiry; navigating then needs no refresh', async ({ stack }) => {
  const user = newUser('flows3b');
  const { page } = await signedIn(stack, user, { signup: true });
  const rec = record(page);
  const exp = await expiresAt(page);
  await sleepUntil(exp, 800);
  const refreshes = rec.responses.filter((r) => r.url === `${API}/auth/refresh`);
  assert.equal(refreshes.length, 1, 'one scheduled refresh');
  assert.equal(refreshes[0].status, 200);
  assert.equal(rec.navigations.length, 0, 'without leaving the page');
  const newExp = Number(await page.evaluate(() => document.documentElement.dataset.tesseraExpiresAt));
  assert.ok(newExp > exp, 'the page knows the new expiry');
  await Promise.all([page.waitForURL(`${APP}/sessions`), page.click('a[href="/sessions"]')]);
  await settle(page);
  assert.equal(await page.textContent('h1'), 'Devices');
  assert.ok(!rec.responses.some((r) => r.refresh), 'no refresh document was needed');
  rec.clean();
});

e2e.test('4 two tabs refresh at the same moment; both stay signed in and the session survives', async ({ stack }) => {
  const user = newUser('flows4');
  const ctx = await stack.newContext();
  await installClock(ctx);
  const t1 = await ctx.newPage();
  await signupViaPage(t1, user);
  const t2 = await ctx.newPage();
  await visit(t2, `${APP}/sessions`);
  await pauseTimers(ctx);
  const r1 = record(t1);
  const r2 = record(t2);
  const before = await pageApi(t1, '/auth/me');
  assert.equal(before.status, 200);
  await sleepUntil(Math.max(await expiresAt(t1), await expiresAt(t2)));

  // Both tabs navigate at once with an expired access token: two refresh documents, two refreshes.
  await Promise.all([t1.goto(`${APP}/sessions`), t2.goto(`${APP}/`)]);
  await Promise.all([settle(t1), settle(t2)]);
  assert.equal(pathOf(t1), '/sessions');
  assert.equal(pathOf(t2), '/');
  for (const [r, name] of [[r1, 'tab 1'], [r2, 'tab 2']]) {
    assert.ok(r.responses.some((x) => x.refresh), `${name} got the refresh document`);
    assert.ok(!r.sawLogin(), `${name} was not sent to the login page`);
    r.clean();
  }

  // The same refresh token twice at the same moment, without the Web Lock: the grace window
  // gives both the same successor.
  const raw = () => fetch('https://api.example.test/auth/refresh', { method: 'POST', credentials: 'include',
    headers: { 'X-CSRF-Token': document.getElementById('backend-csrf').value } }).then((r) => r.status);
  const statuses = await Promise.all([t1.evaluate(raw), t2.evaluate(raw)]);
  assert.deepEqual(statuses, [200, 200], 'concurrent refreshes with one token both succeed');

  // The session is alive: a further navigation in each tab works, and it is the same session.
  await visit(t1, `${APP}/`);
  await visit(t2, `${APP}/sessions`);
  assert.equal(await t1.textContent('h1'), 'Your notes');
  assert.equal(await t2.textContent('h1'), 'Devices');
  assert.ok(!r1.sawLogin() && !r2.sawLogin());
  const after = await pageApi(t2, '/auth/me');
  assert.equal(after.status, 200);
  assert.equal(after.body.session.id, before.body.session.id, 'the same session, not revoked');
  assert.equal(after.body.user.email, user.email);
  r1.clean();
  r2.clean();
});
