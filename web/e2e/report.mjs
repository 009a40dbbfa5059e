// Opens a findings report (GET /reports/findings?format=html) in headless
// Chromium with the bearer token, checks what the page shows, that it
// loads nothing else and runs no script, and saves a full-page screenshot.
//
//   node web/e2e/report.mjs <report-url> <token> <screenshot.png>
//
// Prints {"findings": N, "sections": M} and exits non-zero on any failure.
import { launch } from './browser.mjs';

const [url, token, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: report.mjs <report-url> <token> <screenshot.png>');
  process.exit(2);
}

const browser = await launch();
const failures = [];
try {
  const context = await browser.newContext({
    viewport: { width: 1200, height: 900 },
    extraHTTPHeaders: { Authorization: `Bearer ${token}` },
  });
  const page = await context.newPage();
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
  const response = await page.goto(url, { waitUntil: 'load' });
  if (response.status() !== 200) failures.push(`status ${response.status()}`);
  const title = await page.title();
  if (!title.startsWith('Drift report: ')) failures.push(`title ${JSON.stringify(title)}`);
  const findings = await page.locator('section.finding').count();
  const sections = await page.locator('section.policy-type h2').count();
  const changes = await page.locator('table.changes tbody tr').count();
  if (!(findings > 0)) failures.push('no findings on the page');
  if (!(changes > 0)) failures.push('no setting changes on the page');
  const alignment = await page.locator('dl.summary').innerText();
  if (!alignment.includes('aligned')) failures.push(`no alignment in ${JSON.stringify(alignment)}`);
  if (requests.length !== 1) failures.push(`the page made other requests: ${requests.join(', ')}`);
  await page.screenshot({ path: screenshot, fullPage: true });
  // The printable form renders too.
  await page.emulateMedia({ media: 'print' });
  console.log(JSON.stringify({ findings, sections, changes }));
} catch (e) {
  failures.push(String(e && e.stack ? e.stack : e));
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
