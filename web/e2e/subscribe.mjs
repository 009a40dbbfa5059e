// Subscribes to operationRun(id) with the graphql-ws reference client and
// prints every event as one JSON line, then `{"complete":true}`.
//
//   node web/e2e/subscribe.mjs <ws-url> <token> <run-id>
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, runId] = process.argv.slice(2);
if (!runId) {
  console.error('usage: subscribe.mjs <ws-url> <token> <run-id>');
  process.exit(2);
}
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});
try {
  const events = client.iterate({
    query: `subscription($id: ID!) {
      operationRun(id: $id) { id status outcome progress { done total } }
    }`,
    variables: { id: runId },
  });
  for await (const event of events) {
    console.log(JSON.stringify(event));
  }
  console.log(JSON.stringify({ complete: true }));
} catch (e) {
  console.error(e instanceof Error ? e.message : JSON.stringify(e));
  process.exitCode = 1;
} finally {
  await client.dispose();
}
