// `tessera conformance` against the servers this harness starts (HTTPS, test CA, the same
// flags as the browser suite): every attack case of design.md must pass.
//
// The servers listen on loopback ports, while their public origin is https://app.example.test
// (Chromium reaches them through host rules); the command reaches the same servers with
// --resolve on their ports and --web-origin naming the public origin.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { API_HOST, APP, APP_HOST, GRACE, setup, tesseraBin } from './harness.mjs';

const e2e = setup('conformance');

e2e.test('tessera conformance passes every case against the running servers', async ({ stack }) => {
  const { api, web } = stack.ports;
  const args = ['conformance',
    '--api', `https://${API_HOST}:${api}`,
    '--web', `https://${APP_HOST}:${web}`,
    '--web-origin', APP,
    '--resolve', `${API_HOST}:${api}:127.0.0.1`,
    '--resolve', `${APP_HOST}:${web}:127.0.0.1`,
    '--ca', stack.caPath,
    '--grace', `${GRACE}s`];
  const { code, stdout, stderr } = await new Promise((resolve) => {
    execFile(tesseraBin(), args, { timeout: 240_000, maxBuffer: 4 << 20 }, (error, out, err) => {
      resolve({ code: error ? (error.code ?? 1) : 0, stdout: out, stderr: err });
    });
  });
  console.log(stdout);
  if (stderr.trim()) console.log(stderr);
  assert.equal(code, 0, 'tessera conformance reported failures (table above)');
  assert.match(stdout, /PASS/);
  assert.doesNotMatch(stdout, /\bFAIL\b/);
}, { timeout: 300_000 });
