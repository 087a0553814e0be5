#!/usr/bin/env node
// End-to-end checks of the web UI in a real browser (Debian's Chromium driven by playwright-core),
// with axe-core accessibility checks. No test runner: one line per check, a closing
// "N passed, N failed" line, and the exit code.
//
// Environment:
//   UI_URL       where the UI is served, e.g. http://127.0.0.1:9898/ (api --ui-path) or the nginx URL
//   API_URL      the api directly, for side checks (GET /version, GET /readyz → 503); required
//                for SCENARIO=full, optional otherwise
//   SCENARIO     full (default) | proxy | api-down
//   SCREENSHOTS  a directory: one 1280×800 PNG per view visited (full: overview.png, health.png,
//                chaos.png, jobs.png, metrics.png; other scenarios prefix the scenario name)
//   CHROMIUM     the browser binary [default: /usr/bin/chromium]
//   E2E_TIMEOUT_MS  the bound of every wait [default: 30000]
//
// Exit codes: 0 every check passed; 1 a check failed; 2 bad usage (a missing or invalid
// variable); 3 the browser could not be started.

/* global window, getComputedStyle -- used inside page.evaluate(), which runs in the browser */

import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------- settings
const SCENARIOS = ['full', 'proxy', 'api-down'];
const SCENARIO = process.env.SCENARIO ?? 'full';
const UI_URL = process.env.UI_URL;
const API_URL = process.env.API_URL?.replace(/\/+$/, '');
const SCREENSHOTS = process.env.SCREENSHOTS;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS ?? 30_000);

function usage(message) {
  console.error(`e2e: ${message}`);
  console.error('usage: UI_URL=http://127.0.0.1:PORT/ [API_URL=http://127.0.0.1:PORT] SCENARIO=full|proxy|api-down node e2e/run.mjs');
  process.exit(2);
}

if (!SCENARIOS.includes(SCENARIO)) usage(`SCENARIO must be one of ${SCENARIOS.join(', ')}, not ${JSON.stringify(SCENARIO)}`);
if (!UI_URL) usage('UI_URL is not set');
let uiBase;
try {
  uiBase = new URL(UI_URL);
} catch {
  usage(`UI_URL is not a URL: ${UI_URL}`);
}
if (SCENARIO === 'full' && !API_URL) usage('API_URL is required for SCENARIO=full');
if (!Number.isFinite(TIMEOUT) || TIMEOUT <= 0) usage('E2E_TIMEOUT_MS must be a positive number');

/** The UI at a route of its hash router, e.g. ui('/jobs') → http://host/#/jobs. */
function ui(route = '/') {
  const u = new URL(uiBase);
  u.hash = `#${route}`;
  return u.href;
}

// ---------------------------------------------------------------- reporting
let passed = 0;
let failed = 0;
const started = performance.now();
const cleanups = [];
let browser;

function ms(since) {
  return `${Math.round(performance.now() - since)} ms`;
}

class CheckFailed extends Error {}

function fail(message) {
  throw new CheckFailed(message);
}

async function check(name, fn) {
  const t = performance.now();
  try {
    const detail = await fn();
    passed++;
    console.log(`ok   ${name} (${ms(t)})${detail ? `: ${detail}` : ''}`);
    return detail;
  } catch (err) {
    failed++;
    const why = err instanceof CheckFailed ? err.message : (err?.stack ?? String(err));
    console.error(`FAIL ${name} (${ms(t)}): ${why}`);
    await finish(1);
  }
}

async function finish(code) {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      console.error(`e2e: cleanup failed: ${err.message}`);
    }
  }
  cleanups.length = 0;
  if (browser) await browser.close().catch(() => {});
  console.log(`e2e ${SCENARIO}: ${passed} passed, ${failed} failed (${ms(started)})`);
  process.exit(code);
}

process.on('SIGINT', () => void finish(130));
process.on('SIGTERM', () => void finish(143));

// ---------------------------------------------------------------- helpers
/** Poll `probe` until it returns a truthy value; fail after TIMEOUT with `what`. */
async function waitFor(what, probe, timeout = TIMEOUT, every = 200) {
  const deadline = performance.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      fail(`timed out after ${timeout} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

/** fetch with a time limit; never hangs. */
async function http(method, url, { timeout = 10_000, body } = {}) {
  const res = await fetch(url, {
    method,
    signal: AbortSignal.timeout(timeout),
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** The text as shown (innerText), on one line: line breaks become `sep`. */
async function textOf(locator, sep = ' ') {
  return ((await locator.innerText({ timeout: TIMEOUT })) ?? '').trim().replace(/\s*\n\s*/g, sep);
}

async function visibleText(locator, what, sep = ' ') {
  await locator.first().waitFor({ state: 'visible', timeout: TIMEOUT }).catch(() => fail(`${what} is not visible`));
  return textOf(locator.first(), sep);
}

const AXE_PATH = require.resolve('axe-core/axe.min.js');
let axeSource;

/**
 * Inject axe-core. `page.addScriptTag` adds an inline <script>, which a page served with a strict
 * Content-Security-Policy (blueprint-api sends `default-src 'self'`) refuses; then the source is
 * evaluated through DevTools instead, which CSP does not govern. The UI itself stays under its CSP.
 */
async function injectAxe(page) {
  if (await page.evaluate(() => 'axe' in window)) return;
  try {
    await page.addScriptTag({ path: AXE_PATH });
  } catch (err) {
    if (!/Content Security Policy/i.test(err.message)) throw err;
    axeSource ??= readFileSync(AXE_PATH, 'utf8');
    await page.evaluate(`${axeSource}\n;void 0`);
    ignoredCsp.add('axe');
  }
  if (!(await page.evaluate(() => 'axe' in window))) fail('axe-core did not load into the page');
}

async function runAxe(page, view) {
  await injectAxe(page);
  const result = await page.evaluate(() => window.axe.run(window.document, { resultTypes: ['violations'] }));
  const serious = [];
  for (const v of result.violations) {
    const where = v.nodes
      .slice(0, 3)
      .map((n) => `${n.target.join(' ')}${n.any?.[0]?.message ? ` — ${n.any[0].message}` : ''}`)
      .join(' | ');
    const line = `${v.impact ?? 'unknown'} ${v.id}: ${v.help} (${v.nodes.length} node(s): ${where})`;
    if (v.impact === 'serious' || v.impact === 'critical') serious.push(line);
    else console.log(`     axe ${view}: ${line}`);
  }
  if (serious.length > 0) fail(`axe found ${serious.length} serious/critical violation(s):\n       ${serious.join('\n       ')}`);
  return `${result.violations.length} violation(s), none serious or critical; ${result.passes?.length ?? 0} rules passed`;
}

async function screenshot(page, view) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  const name = SCENARIO === 'full' ? `${view}.png` : `${SCENARIO}-${view}.png`;
  const path = join(SCREENSHOTS, name);
  await page.screenshot({ path, fullPage: false });
  console.log(`     screenshot ${path}`);
}

async function navigate(page, label, route) {
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: label, exact: true }).click({ timeout: TIMEOUT });
  await page.waitForURL((url) => url.hash === `#${route}`, { timeout: TIMEOUT });
  await page.getByRole('heading', { level: 1, name: label }).waitFor({ timeout: TIMEOUT });
}

async function landmarks(page) {
  const main = await page.getByRole('main').count();
  const nav = await page.getByRole('navigation').count();
  if (main !== 1) fail(`expected one main landmark, found ${main}`);
  if (nav < 1) fail('no navigation landmark');
  return 'main and nav landmarks present';
}

async function submitJob(page, kind, fill) {
  await page.getByLabel('Kind', { exact: true }).selectOption(kind);
  if (fill) await fill();
  const before = await page.getByTestId('last-job-id').textContent({ timeout: 200 }).catch(() => null);
  await page.getByTestId('job-submit').click();
  return waitFor(`the ${kind} job's id`, async () => {
    const id = await page.getByTestId('last-job-id').textContent({ timeout: 500 }).catch(() => null);
    return id && id !== before ? id.trim() : null;
  });
}

async function waitJobRow(page, id, status) {
  const row = page.locator(`[data-testid="job-row"][data-job-id="${id}"][data-status="${status}"]`);
  await row.waitFor({ state: 'visible', timeout: TIMEOUT }).catch(async () => {
    const now = await page
      .locator(`[data-job-id="${id}"]`)
      .first()
      .getAttribute('data-status', { timeout: 500 })
      .catch(() => 'not listed');
    fail(`job ${id} did not show as ${status} within ${TIMEOUT} ms (shown: ${now ?? 'dead'})`);
  });
}

// ---------------------------------------------------------------- browser
async function launch() {
  // Resolve nothing but the machine's own addresses (and the UI's host, if it is a name).
  const exclude = ['127.0.0.1'];
  if (!exclude.includes(uiBase.hostname)) exclude.push(uiBase.hostname.replace(/^\[|\]$/g, ''));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--host-resolver-rules=MAP * ~NOTFOUND, ${exclude.map((h) => `EXCLUDE ${h}`).join(', ')}`,
  ];
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: TIMEOUT });
  } catch (err) {
    console.error(`e2e: cannot start Chromium at ${CHROMIUM}: ${err.message.split('\n')[0]}`);
    console.error('e2e: install it (apt-get install -y chromium) or set CHROMIUM');
    process.exit(3);
  }
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(TIMEOUT);
  // Content-Security-Policy violations, recorded in the page (init scripts are not subject to CSP).
  await context.addInitScript(() => {
    window.__cspViolations = [];
    window.document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile || 'page'}:${e.lineNumber})`);
    });
  });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return { page, pageErrors, version: browser.version() };
}

/** Names of tools whose own CSP refusals (e.g. axe's inline script tag) are expected. */
const ignoredCsp = new Set();

async function noPageErrors(page, pageErrors) {
  if (pageErrors.length > 0) fail(`uncaught errors in the page:\n       ${pageErrors.join('\n       ')}`);
  const csp = (await page.evaluate(() => window.__cspViolations ?? [])).filter(
    // axe-core's own inline <script> (see injectAxe), not the UI's.
    (v) => !(ignoredCsp.has('axe') && /^script-src/.test(v) && / blocked inline /.test(v)),
  );
  if (csp.length > 0) fail(`Content-Security-Policy violations by the UI:\n       ${csp.join('\n       ')}`);
  return 'no uncaught exceptions, no CSP violations by the UI';
}

// ---------------------------------------------------------------- scenarios
async function full() {
  const expected = await check('api answers GET API_URL/version', async () => {
    const r = await http('GET', `${API_URL}/version`);
    if (r.status !== 200 || typeof r.json?.version !== 'string') fail(`got ${r.status} ${r.text.slice(0, 200)}`);
    return r.json.version;
  });
  cleanups.push(async () => {
    // Leave the api as found, whatever failed.
    await http('POST', `${API_URL}/readyz/enable`).catch(() => {});
    await http('POST', `${API_URL}/fault_injection/disable`).catch(() => {});
  });

  const { page, pageErrors, version } = await launch();
  console.log(`     browser: Chromium ${version}`);

  // Overview
  await check('overview: loads and shows the running version', async () => {
    await page.goto(ui('/'), { timeout: TIMEOUT });
    const shown = await visibleText(page.getByTestId('version'), 'the version');
    if (shown !== expected) fail(`shows version ${JSON.stringify(shown)}, the api reports ${JSON.stringify(expected)}`);
    return `version ${shown}, hostname ${await textOf(page.getByTestId('hostname'))}`;
  });
  await check('overview: landmarks', () => landmarks(page));
  await check('overview: Swagger UI link works', async () => {
    const href = await page.getByTestId('swagger-link').getAttribute('href');
    if (!href?.endsWith('/swagger/')) fail(`link is ${href}`);
    const r = await page.request.get(new URL(href, page.url()).href, { timeout: TIMEOUT });
    if (r.status() !== 200) fail(`GET ${href} answered ${r.status()}`);
    return `${href} → 200`;
  });
  await check('overview: axe', () => runAxe(page, 'overview'));
  await screenshot(page, 'overview');

  // Health
  await navigate(page, 'Health', '/health');
  const readyState = page.getByTestId('ready-state').locator('.badge');
  await check('health: readiness shows ready', async () => {
    await waitFor('readiness to show ready', async () => (await readyState.getAttribute('data-state')) === 'ok');
    return textOf(readyState);
  });
  await check('health: "Disable readiness" turns it red and /readyz answers 503', async () => {
    await page.getByRole('button', { name: 'Disable readiness' }).click();
    await waitFor('readiness to show not ready', async () => (await readyState.getAttribute('data-state')) === 'bad');
    const text = await textOf(readyState);
    if (!/not ready/i.test(text)) fail(`the badge says ${JSON.stringify(text)}, not "Not ready"`);
    const color = await readyState.evaluate((el) => getComputedStyle(el).color);
    const [r, g, b] = (color.match(/\d+/g) ?? []).map(Number);
    if (!(r > 100 && g < 60 && b < 60)) fail(`the badge's text color is ${color}, not red`);
    const api = await http('GET', `${API_URL}/readyz`);
    if (api.status !== 503) fail(`API_URL/readyz answered ${api.status}, expected 503`);
    const live = await textOf(page.getByTestId('health-announcement'));
    return `badge "${text}" (${color}); API_URL/readyz → 503; announced "${live}"`;
  });
  await check('health: axe (not ready state)', () => runAxe(page, 'health'));
  await screenshot(page, 'health');
  await check('health: "Enable readiness" turns it green and /readyz answers 200', async () => {
    await page.getByRole('button', { name: 'Enable readiness' }).click();
    await waitFor('readiness to show ready', async () => (await readyState.getAttribute('data-state')) === 'ok');
    const api = await http('GET', `${API_URL}/readyz`);
    if (api.status !== 200) fail(`API_URL/readyz answered ${api.status}, expected 200`);
    return `badge "${await textOf(readyState)}"; API_URL/readyz → 200`;
  });

  // Chaos
  await navigate(page, 'Chaos', '/chaos');
  const result = page.getByTestId('chaos-result');
  await check('chaos: GET /status/503 shows the status and latency', async () => {
    await page.getByLabel('HTTP status to answer with (200–599)').fill('503');
    await page.getByTestId('status-send').click();
    const text = await waitFor('the status result', async () => {
      const t = await textOf(result);
      return /^GET \/status\/503: status 503 in [\d.]+ ms/.test(t) ? t : null;
    });
    return text;
  });
  await check('chaos: GET /delay/1 shows status 200 and a latency of at least 1 s', async () => {
    await page.getByLabel(/Seconds to wait/).fill('1');
    await page.getByTestId('delay-send').click();
    const text = await waitFor('the delay result', async () => {
      const t = await textOf(result);
      return /^GET \/delay\/1: status 200 in /.test(t) ? t : null;
    });
    const latency = Number(text.match(/in ([\d.]+) ms/)?.[1]);
    if (!(latency >= 1000)) fail(`latency ${latency} ms is under the 1 s delay: ${text}`);
    return text;
  });
  await check('chaos: axe', () => runAxe(page, 'chaos'));
  await screenshot(page, 'chaos');

  // Jobs
  await navigate(page, 'Jobs', '/jobs');
  await check('jobs: a sleep job reaches succeeded', async () => {
    const t = performance.now();
    const id = await submitJob(page, 'sleep', () => page.getByLabel(/Duration \(ms/).fill('300'));
    await waitJobRow(page, id, 'succeeded');
    const api = await http('GET', `${API_URL}/jobs/${id}`);
    if (api.json?.status !== 'succeeded') fail(`API_URL/jobs/${id} says ${api.json?.status}`);
    return `job ${id} succeeded after ${ms(t)}`;
  });
  await check('jobs: cpu, checksum and http-probe jobs succeed with the form\'s default payloads', async () => {
    const t = performance.now();
    const done = [];
    for (const kind of ['cpu', 'checksum', 'http-probe']) {
      const id = await submitJob(page, kind);
      await waitJobRow(page, id, 'succeeded');
      done.push(`${kind} ${id.slice(0, 8)}`);
    }
    return `${done.join(', ')} succeeded after ${ms(t)}`;
  });
  let flakyId;
  await check('jobs: a flaky job with p = 1 reaches the dead letters', async () => {
    const t = performance.now();
    flakyId = await submitJob(page, 'flaky', () => page.getByLabel(/Failure probability/).fill('1'));
    await page
      .locator(`[data-testid="dead-row"][data-job-id="${flakyId}"]`)
      .waitFor({ state: 'visible', timeout: TIMEOUT })
      .catch(() => fail(`job ${flakyId} was not in the dead letters within ${TIMEOUT} ms`));
    const api = await http('GET', `${API_URL}/jobs/${flakyId}`);
    if (api.json?.status !== 'dead') fail(`API_URL/jobs/${flakyId} says ${api.json?.status}`);
    return `job ${flakyId} dead after ${api.json.attempts}/${api.json.max_attempts} attempts, ${ms(t)}`;
  });
  await check('jobs: axe (with jobs and dead letters)', () => runAxe(page, 'jobs'));
  // The lists, not the form, in the picture.
  await page.locator('#recent-title').evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await screenshot(page, 'jobs');
  await check('jobs: Retry re-queues the dead job', async () => {
    const row = page.locator(`[data-testid="dead-row"][data-job-id="${flakyId}"]`);
    await row.getByRole('button', { name: /^Retry/ }).click();
    const now = await waitFor('the job to leave the dead letters', async () => {
      const api = await http('GET', `${API_URL}/jobs/${flakyId}`);
      return api.json && api.json.status !== 'dead' ? api.json : null;
    });
    await page
      .locator(`[data-testid="job-row"][data-job-id="${flakyId}"]`)
      .waitFor({ state: 'visible', timeout: TIMEOUT })
      .catch(() => fail(`job ${flakyId} is not back in the recent jobs list`));
    return `job ${flakyId} is ${now.status} again (attempts ${now.attempts}); announced "${await textOf(page.getByTestId('jobs-announcement'))}"`;
  });

  // Metrics
  await navigate(page, 'Metrics', '/metrics');
  await check('metrics: rate, error ratio and p99 from /metrics', async () => {
    // Traffic for the window between two scrapes: a few 200s and 500s.
    const traffic = setInterval(() => {
      void http('GET', `${API_URL}/status/200`).catch(() => {});
      void http('GET', `${API_URL}/status/500`).catch(() => {});
    }, 250);
    try {
      const figures = await waitFor('request rate, error ratio and p99 figures', async () => {
        const rate = await textOf(page.getByTestId('rate'));
        const ratio = await textOf(page.getByTestId('error-ratio'));
        const p99 = await textOf(page.getByTestId('p99'));
        const ok = /req\/s$/.test(rate) && /%$/.test(ratio) && /\d( ms| s)$/.test(p99) && !rate.startsWith('0.00');
        // Two windows at least, so that the charts draw a line, not a dot.
        const line = await page.locator('svg.sparkline path.sparkline__line').first().getAttribute('d', { timeout: 500 }).catch(() => null);
        return ok && line?.includes('L') ? { rate, ratio, p99 } : null;
      });
      const charts = await page.locator('svg.sparkline[role="img"]').count();
      if (charts !== 3) fail(`expected 3 charts, found ${charts}`);
      return `rate ${figures.rate}, 5xx ${figures.ratio}, p99 ${figures.p99}; ${charts} charts`;
    } finally {
      clearInterval(traffic);
    }
  });
  await check('metrics: axe', () => runAxe(page, 'metrics'));
  await screenshot(page, 'metrics');

  await check('no uncaught errors or CSP violations in the page', () => noPageErrors(page, pageErrors));
}

async function proxy() {
  const config = await check('proxy: /config.json', async () => {
    const r = await http('GET', new URL('/config.json', uiBase).href);
    if (r.status !== 200 || typeof r.json?.apiBase !== 'string') fail(`got ${r.status} ${r.text.slice(0, 200)}`);
    return JSON.stringify(r.json);
  });
  const apiBase = JSON.parse(config).apiBase.replace(/\/+$/, '');
  const expected = await check('proxy: the api answers GET /version', async () => {
    const url = API_URL ? `${API_URL}/version` : new URL(`${apiBase}/version`, uiBase).href;
    const r = await http('GET', url);
    if (r.status !== 200 || typeof r.json?.version !== 'string') fail(`GET ${url}: ${r.status} ${r.text.slice(0, 200)}`);
    return r.json.version;
  });
  const { page, pageErrors, version } = await launch();
  console.log(`     browser: Chromium ${version}`);
  await check('proxy: overview shows the running version', async () => {
    await page.goto(ui('/'), { timeout: TIMEOUT });
    const shown = await visibleText(page.getByTestId('version'), 'the version');
    if (shown !== expected) fail(`shows version ${JSON.stringify(shown)}, the api reports ${JSON.stringify(expected)}`);
    return `version ${shown} (apiBase ${JSON.stringify(apiBase)})`;
  });
  await screenshot(page, 'overview');
  await navigate(page, 'Jobs', '/jobs');
  await check('proxy: a sleep job reaches succeeded', async () => {
    const t = performance.now();
    const id = await submitJob(page, 'sleep', () => page.getByLabel(/Duration \(ms/).fill('200'));
    await waitJobRow(page, id, 'succeeded');
    return `job ${id} succeeded after ${ms(t)}`;
  });
  await screenshot(page, 'jobs');
  await check('no uncaught errors or CSP violations in the page', () => noPageErrors(page, pageErrors));
}

async function apiDown() {
  if (API_URL) {
    await check('api-down: API_URL does not answer', async () => {
      try {
        const r = await http('GET', `${API_URL}/healthz`, { timeout: 3_000 });
        fail(`API_URL/healthz answered ${r.status}: stop the api for this scenario`);
      } catch (err) {
        if (err instanceof CheckFailed) throw err;
        return `GET API_URL/healthz: ${err.cause?.code ?? err.name}`;
      }
    });
  }
  const { page, pageErrors, version } = await launch();
  console.log(`     browser: Chromium ${version}`);
  await check('api-down: the UI loads (not a blank page)', async () => {
    await page.goto(ui('/'), { timeout: TIMEOUT });
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: TIMEOUT });
    await landmarks(page);
    return 'Overview heading, main and nav shown';
  });
  await check('api-down: Overview shows the error state', async () => {
    const banner = page.getByTestId('error-banner');
    const text = await visibleText(banner, 'the error banner', ' | ');
    if (!/API/.test(text)) fail(`the banner does not mention the API: ${JSON.stringify(text)}`);
    if ((await page.getByTestId('version').count()) > 0) fail('shows a version although the api is down');
    return text.slice(0, 300);
  });
  await check('api-down: header says the API is unreachable', async () => {
    const text = await waitFor('the header to say unreachable', async () => {
      const t = await textOf(page.getByTestId('api-reachability'));
      return /unreachable/i.test(t) ? t : null;
    });
    return text;
  });
  await check('api-down: axe (error state)', () => runAxe(page, 'overview'));
  await screenshot(page, 'overview');
  await check('no uncaught errors or CSP violations in the page', () => noPageErrors(page, pageErrors));
}

// ---------------------------------------------------------------- main
console.log(`e2e ${SCENARIO}: UI_URL=${uiBase.href}${API_URL ? ` API_URL=${API_URL}` : ''} (every wait ≤ ${TIMEOUT} ms)`);
try {
  if (SCENARIO === 'full') await full();
  else if (SCENARIO === 'proxy') await proxy();
  else await apiDown();
} catch (err) {
  failed++;
  console.error(`FAIL unexpected error: ${err?.stack ?? err}`);
  await finish(1);
}
await finish(0);
