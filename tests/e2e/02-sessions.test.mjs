// Scenarios 5-6: refresh-token reuse across browsers, logout, replay of old cookies, logging
// out everywhere and revoking a device.

import assert from 'node:assert/strict';
import {
  APP, API, GRACE, setup, newUser, settle, visit, signedIn, signupViaPage, pageApi, expiresAt, sleep, sleepUntil,
  installClock, pauseTimers, record, pathOf,
} from './harness.mjs';

const e2e = setup('sessions');

const REFRESH_COOKIE = '__Secure-tessera-refresh';
const onLogin = (page) => new URL(page.url()).pathname === '/login';

e2e.test('5 a copied refresh cookie used after rotation and grace revokes the session in both browsers', async ({ stack }) => {
  const user = newUser('reuse');
  const ctx1 = await stack.newContext();
  await installClock(ctx1);
  const p1 = await ctx1.newPage();
  await signupViaPage(p1, user);
  await pauseTimers(ctx1);

  // The thief copies the cookie jar (the API's refresh cookie, and the rest) into another browser.
  const stolen = await ctx1.cookies();
  const refreshCookie = stolen.find((c) => c.name === REFRESH_COOKIE);
  assert.ok(refreshCookie, `the API set ${REFRESH_COOKIE}`);
  const ctx2 = await stack.newContext();
  await ctx2.addCookies(stolen);

  // The owner's tab rotates the refresh token (navigation after expiry).
  const r1 = record(p1);
  await sleepUntil(await expiresAt(p1));
  await visit(p1, `${APP}/sessions`);
  assert.equal(pathOf(p1), '/sessions');
  assert.ok(r1.responses.some((r) => r.refresh), 'the owner refreshed');
  const rotated = (await ctx1.cookies()).find((c) => c.name === REFRESH_COOKIE);
  assert.notEqual(rotated.value, refreshCookie.value, 'the refresh token rotated');

  // Past the grace window, the thief uses the superseded token.
  await sleep((GRACE + 0.5) * 1000);
  const p2 = await ctx2.newPage();
  const r2 = record(p2);
  await p2.goto(`${APP}/`);
  await settle(p2);
  assert.ok(onLogin(p2), `the thief lands on /login, not ${p2.url()}`);
  const reuse = r2.responses.find((r) => r.url === `${API}/auth/refresh`);
  assert.equal(reuse?.status, 401, 'the reused refresh token is refused');
  assert.ok(!(await ctx2.cookies(API)).some((c) => c.name === REFRESH_COOKIE), 'the API cleared the thief\'s refresh cookie');

  // The whole session is revoked: the owner is signed out too, at the next navigation.
  await p1.goto(`${APP}/`);
  await settle(p1);
  assert.ok(onLogin(p1), `the owner lands on /login, not ${p1.url()}`);
  const me = await stack.apiRequest('GET', '/auth/me', { headers: { cookie: `__Host-tessera-access=${(stolen.find((c) => c.name === '__Host-tessera-access')).value}` } });
  assert.equal(me.status, 401);
});

e2e.test('6a logout: replaying the old cookies is refused by the API and by the web server', async ({ stack }) => {
  const user = newUser('logout');
  const { ctx, page } = await signedIn(stack, user, { signup: true });
  const exp = await expiresAt(page);
  const old = await ctx.cookies();
  const names = old.map((c) => c.name).sort();
  assert.deepEqual(names, ['__Host-tessera-access', '__Host-tessera-web', '__Secure-tessera-refresh']);

  // The replaying browser is set up before the logout, and its cookies work then.
  const replay = await stack.newContext();
  await replay.addCookies(old);
  const p = await replay.newPage();
  assert.equal((await p.goto(`${API}/auth/me`)).status(), 200, 'the copied cookies work before the logout');

  const rec = record(page);
  await Promise.all([page.waitForURL(`${APP}/login`), page.click('form[action="/logout"] button')]);
  await settle(page);
  assert.ok(rec.navigations.some((u) => new URL(u).pathname === '/logout'), 'the signed-out page was shown');
  const left = await ctx.cookies();
  assert.deepEqual(left.map((c) => `${c.domain} ${c.name}`), [], 'logout leaves no Tessera cookie in the browser');

  // The same old cookies after the logout, before the old access token would even expire.
  const me = await p.goto(`${API}/auth/me`);
  assert.equal(me.status(), 401, 'the API refuses the old access cookie');
  assert.ok(Date.now() / 1000 < exp, 'refused at once, not by expiry');
  const rp = record(p);
  await p.goto(`${APP}/`);
  await settle(p);
  assert.ok(onLogin(p), `the web server refuses the old web cookie: ${rp.navigations.join(' -> ')}`);
  assert.ok(!rp.responses.some((r) => r.url === `${API}/auth/refresh` && r.status === 200), 'no refresh succeeded');

  // The old refresh cookie is dead too (refresh call from the replaying browser's page).
  const refresh = await p.evaluate(async (api) => (await fetch(api + '/auth/refresh', { method: 'POST', credentials: 'include' })).status, API);
  assert.equal(refresh, 401);
});

e2e.test('6b log out everywhere from one browser signs out the other', async ({ stack }) => {
  const user = newUser('everywhere');
  const a = await signedIn(stack, user, { signup: true, context: { userAgent: 'E2E laptop' } });
  const b = await signedIn(stack, user, { context: { userAgent: 'E2E phone' } });
  await visit(a.page, `${APP}/sessions`);
  assert.equal(await a.page.locator('#sessions li').count(), 2);
  await Promise.all([a.page.waitForURL(`${APP}/login`), a.page.click('form[action="/logout-all"] button')]);
  await settle(a.page);
  assert.deepEqual((await a.ctx.cookies()).map((c) => c.name), [], 'no Tessera cookie is left in this browser');

  await b.page.goto(`${APP}/`);
  await settle(b.page);
  assert.ok(onLogin(b.page), `the other browser is signed out: ${b.page.url()}`);
  await a.page.goto(`${APP}/`);
  await settle(a.page);
  assert.ok(onLogin(a.page), 'and so is this one');
  const r = await b.page.goto(`${API}/auth/me`);
  assert.equal(r.status(), 401);
});

e2e.test('6c revoking a device on /sessions signs that device out', async ({ stack }) => {
  const user = newUser('revoke');
  const a = await signedIn(stack, user, { signup: true, context: { userAgent: 'E2E laptop' } });
  const b = await signedIn(stack, user, { context: { userAgent: 'E2E phone' } });
  const bSession = (await pageApi(b.page, '/auth/me')).body.session.id;
  await visit(a.page, `${APP}/sessions`);
  const phone = a.page.locator(`#sessions li[data-session-id="${bSession}"]`);
  assert.match(await phone.textContent(), /E2E phone/);
  assert.equal(await phone.locator('.badge').count(), 0, 'not this device');
  await Promise.all([a.page.waitForURL(`${APP}/sessions`), phone.locator('button', { hasText: 'Revoke' }).click()]);
  await settle(a.page);
  assert.equal(await a.page.locator('#sessions li').count(), 1);
  assert.match(await a.page.locator('#sessions li').textContent(), /E2E laptop/);

  await b.page.goto(`${APP}/`);
  await settle(b.page);
  assert.ok(onLogin(b.page), `the revoked device is signed out: ${b.page.url()}`);
  await visit(a.page, `${APP}/`);
  assert.equal(pathOf(a.page), '/', 'the revoking device stays signed in');
  assert.equal(await a.page.textContent('h1'), 'Your notes');
});
