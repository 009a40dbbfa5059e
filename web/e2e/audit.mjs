// Runs the graphql-http server audits (GraphQL over HTTP spec) against a
// running drift-engine. Prints every result; exits non-zero if any MUST fails.
//
//   node web/e2e/audit.mjs <base-url> <token>
import { serverAudits } from 'graphql-http';

const [base, token] = process.argv.slice(2);
if (!token) {
  console.error('usage: audit.mjs <base-url> <token>');
  process.exit(2);
}
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

let mustFailures = 0;
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const audit of serverAudits({ url: `${base}/graphql`, fetchFn })) {
  const result = await audit.fn();
  counts[result.status] += 1;
  const must = audit.name.startsWith('MUST');
  if (result.status !== 'ok') {
    if (must && result.status === 'error') mustFailures += 1;
    console.log(`${result.status.toUpperCase()} ${audit.id} ${audit.name}: ${result.reason}`);
  } else {
    console.log(`ok ${audit.id} ${audit.name}`);
  }
}
console.log(JSON.stringify({ ...counts, mustFailures }));
process.exit(mustFailures === 0 ? 0 : 1);
