// Scenario 10: every page renders without an error, and a screenshot of each is saved under
// target/e2e/screenshots/ (1000x700). With E2E_DOCS_SCREENSHOTS=1 the login, notes and devices
// screenshots are also copied to docs/screenshots/ for the README.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  APP, API, ROOT, setup, newUser, settle, visit, pageApi, expiresAt, sleepUntil, installClock, pauseTimers,
  record, assertNoErrorElement, noteBodies, screenshotPath, pathOf,
} from './harness.mjs';

const e2e = setup('pages');

const DESKTOP = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const PHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1';
const NOTES = [
  'Pick up the spare keys from the front desk before 6 pm.',
  'Tessera keeps the access and refresh tokens in HttpOnly cookies: no script on this page can read them.',
  'Weekend: hike to the lake, bake bread, call grandma.',
];

/** Holds back /assets/tessera.js until released, so a self-moving page can be photographed. */
async function holdScript(ctx) {
  let release;
  const gate = new Promise((r) => { release = r; });
  const handler = async (route) => {
    await gate;
    await route.continue().catch(() => { /* handled by the fallback once unrouted */ });
  };
  await ctx.route('**/assets/tessera.js', handler);
  return async () => { release(); await ctx.unroute('**/assets/tessera.js', handler); };
}

/** Waits until the stylesheet applies (the page is laid out as users see it). */
async function styled(page) {
  await page.waitForFunction(() => getComputedStyle(document.body).margin === '0px' && document.fonts.status === 'loaded');
}

async function shoot(page, name) {
  await styled(page);
  await assertNoErrorElement(page);
  const file = screenshotPath(name);
  await page.screenshot({ path: file });
  return file;
}

e2e.test('10 every page renders without error; screenshots of each', async ({ stack }) => {
  const user = newUser('pages');
  const ctx = await stack.newContext({ viewport: { width: 1000, height: 700 }, colorScheme: 'light', userAgent: DESKTOP, locale: 'en-US' });
  await installClock(ctx); // timers run normally until paused before the refresh document
  const page = await ctx.newPage();
  // The signed-out page's own call to the API's logout meets a session the web server has
  // already ended (server to server): 401, with the API's cookies cleared. Expected.
  const rec = record(page, { allow: [{ method: 'POST', url: `${API}/auth/logout`, status: 401 }] });
  const shots = {};

  // Login and signup pages.
  const login = await page.goto(`${APP}/login`);
  assert.equal(login.status(), 200);
  await settle(page);
  shots.login = await shoot(page, 'login');
  await visit(page, `${APP}/signup`);
  assert.equal(await page.textContent('h1'), 'Create an account');
  shots.signup = await shoot(page, 'signup');

  // Sign up, then add notes: one through the form, the rest from the page's script.
  await page.fill('#email', user.email);
  await page.fill('#password', user.password);
  await Promise.all([page.waitForURL(`${APP}/`), page.click('button[type="submit"]')]);
  await settle(page);
  for (const body of NOTES.slice(0, 2)) {
    assert.equal((await pageApi(page, '/notes', { method: 'POST', body: JSON.stringify({ body }) })).status, 201);
  }
  await page.fill('#note-body', NOTES[2]);
  await Promise.all([page.waitForURL(`${APP}/`), page.click('form[action="/notes"] button[type="submit"]')]);
  await settle(page);
  assert.deepEqual((await noteBodies(page)).sort(), [...NOTES].sort());
  shots.notes = await shoot(page, 'notes');

  // Devices: this browser and a phone.
  const phone = stack.client(user, PHONE);
  await phone.login();
  await visit(page, `${APP}/sessions`);
  assert.equal(await page.locator('#sessions li').count(), 2);
  assert.equal(await page.locator('#sessions .badge').count(), 1);
  shots.sessions = await shoot(page, 'sessions');

  // The refresh document (held before its script runs), then on to the page asked for.
  await pauseTimers(ctx);
  await sleepUntil(await expiresAt(page));
  let release = await holdScript(ctx);
  const doc = await page.goto(`${APP}/sessions`, { waitUntil: 'commit' });
  assert.equal(doc.headers()['x-tessera-refresh'], '1', 'the refresh document');
  await page.waitForSelector('html[data-tessera-page="refresh"] p[role="status"]');
  shots.refresh = await shoot(page, 'refresh');
  await release();
  await settle(page);
  assert.equal(pathOf(page), '/sessions');
  assert.equal(await page.textContent('h1'), 'Devices');

  // The signed-out page (held before its script runs), then the login page.
  release = await holdScript(ctx);
  const [out] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${APP}/logout` && r.request().method() === 'POST'),
    page.click('form[action="/logout"] button'),
  ]);
  assert.equal(out.status(), 200);
  await page.waitForSelector('html[data-tessera-page="logged-out"] h1');
  assert.equal(await page.textContent('h1'), 'Signed out');
  shots['logged-out'] = await shoot(page, 'logged-out');
  await Promise.all([page.waitForURL(`${APP}/login`), release()]);
  await settle(page);
  assert.deepEqual(await ctx.cookies(), [], 'signed out: no cookie left');

  // No error anywhere: no 4xx/5xx answer, console error, failed request or page error.
  for (const r of rec.responses.filter((x) => x.navigation)) assert.ok(r.status < 400, `${r.url} -> ${r.status}`);
  rec.clean();
  for (const [name, file] of Object.entries(shots)) {
    assert.ok(fs.statSync(file).size > 5000, `${name} screenshot has content`);
  }
  if (process.env.E2E_DOCS_SCREENSHOTS === '1') {
    const docs = path.join(ROOT, 'docs', 'screenshots');
    fs.mkdirSync(docs, { recursive: true });
    fs.copyFileSync(shots.login, path.join(docs, 'login.png'));
    fs.copyFileSync(shots.notes, path.join(docs, 'notes.png'));
    fs.copyFileSync(shots.sessions, path.join(docs, 'devices.png'));
    console.log(`README screenshots copied to ${docs}`);
  }
});
