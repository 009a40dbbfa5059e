// Opens GraphiQL in headless Chromium against a running drift-engine, types
// the token into the headers editor, runs a findings query and a
// subscription, checks what GraphiQL shows, and saves a screenshot.
//
//   node web/e2e/graphiql.mjs <base-url> <token> <tenant-id> <run-id> <screenshot.png>
//
// Exits non-zero (with the reason) on any failure. Every request the page
// makes must go to the server itself: the assets are embedded.
import { launch } from './browser.mjs';

const [base, token, tenantId, runId, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: graphiql.mjs <base-url> <token> <tenant-id> <run-id> <screenshot.png>');
  process.exit(2);
}
const origin = new URL(base).host;

const browser = await launch();
const failures = [];
let page;
try {
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const foreign = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) return;
    if (url.host !== origin) foreign.push(r.url());
  });
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));

  await page.goto(`${base}/graphql`, { waitUntil: 'load' });
  await page.locator('.graphiql-container').waitFor({ timeout: 30000 });

  // The headers editor is open by default on our page.
  const headersEditor = page.locator('.graphiql-editor-tool .CodeMirror').last();
  await headersEditor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));

  const run = async (query) => {
    const editor = page.locator('.graphiql-query-editor .CodeMirror').first();
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(query);
    // GraphiQL reads the operations from the editor after a short debounce.
    await page.waitForTimeout(300);
    await page.locator('.graphiql-execute-button').click();
  };

  // 1. A findings query over HTTP.
  const findingsQuery = `{
  findings(tenantId: "${tenantId}", first: 20) {
    totalCount
    edges { node { findingType fidelity subject { policyType displayName }
      current { provenance { source observedOperationRun { type } } } } }
  }
}`;
  const responded = page.waitForResponse(
    (r) => r.url().endsWith('/graphql') && r.request().method() === 'POST' &&
      (r.request().postData() || '').includes('findings(tenantId'),
  );
  await run(findingsQuery);
  const response = await responded;
  const body = await response.json();
  if (response.request().headers()['authorization'] !== `Bearer ${token}`) {
    failures.push('the request did not carry the token from the headers editor');
  }
  if (body.errors) failures.push(`findings query failed: ${JSON.stringify(body.errors)}`);
  const total = body?.data?.findings?.totalCount ?? 0;
  if (!(total > 0)) failures.push(`expected findings, got ${JSON.stringify(body)}`);
  const result = page.locator('.graphiql-response');
  await result.getByText('totalCount').waitFor({ timeout: 15000 });
  await result.getByText('"findingType"').first().waitFor({ timeout: 15000 });
  await page.screenshot({ path: screenshot, fullPage: true });

  // 2. A subscription over graphql-transport-ws, token in connection_init.
  await run(`subscription {
  operationRun(id: "${runId}") { type status outcome progress { done total } }
}`);
  await result.getByText('"COMPLETED"').waitFor({ timeout: 20000 });

  if (foreign.length) failures.push(`requests to other hosts: ${foreign.join(', ')}`);
  console.log(JSON.stringify({ findings: total, screenshot }));
} catch (e) {
  failures.push(String(e && e.stack ? e.stack : e));
  // What the page showed when it failed, beside the screenshot it would have kept.
  const shot = screenshot.replace(/\.png$/, '') + '-failure.png';
  await page?.screenshot({ path: shot, fullPage: true }).catch(() => {});
  failures.push(`page at the failure: ${shot}`);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
