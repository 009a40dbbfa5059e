// drift-engine's GraphiQL page: queries and mutations over HTTP, subscriptions
// over graphql-transport-ws. The headers typed into GraphiQL's headers editor
// (e.g. {"Authorization": "Bearer dre_..."}) go with every HTTP request and
// into the WebSocket connection_init payload, where the server reads the token.
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint') || '/graphql';
  var wsUrl =
    (location.protocol === 'https:' ? 'wss://' : 'ws://') +
    location.host +
    (root.getAttribute('data-ws-endpoint') || '/graphql/ws');

  var http = GraphiQL.createFetcher({ url: endpoint });

  function isSubscription(params, opts) {
    var doc = opts && opts.documentAST;
    if (doc && doc.definitions) {
      var ops = doc.definitions.filter(function (d) {
        return d.kind === 'OperationDefinition';
      });
      var op = params.operationName
        ? ops.find(function (d) {
            return d.name && d.name.value === params.operationName;
          })
        : ops[0];
      return !!op && op.operation === 'subscription';
    }
    return /^\s*subscription\b/.test(params.query || '');
  }

  function subscribe(params, headers) {
    return {
      subscribe: function (sink) {
        var client = graphqlWs.createClient({
          url: wsUrl,
          connectionParams: headers,
          lazy: true,
          retryAttempts: 0,
        });
        var dispose = client.subscribe(params, {
          next: function (value) {
            sink.next(value);
          },
          error: function (err) {
            var message =
              err && err.reason
                ? 'WebSocket closed: ' + err.reason
                : err instanceof Error
                  ? err.message
                  : JSON.stringify(err);
            sink.error(new Error(message));
            client.dispose();
          },
          complete: function () {
            sink.complete();
            client.dispose();
          },
        });
        return {
          unsubscribe: function () {
            dispose();
            client.dispose();
          },
        };
      },
    };
  }

  function fetcher(params, opts) {
    if (isSubscription(params, opts)) {
      return subscribe(params, (opts && opts.headers) || {});
    }
    return http(params, opts);
  }

  var defaultQuery = [
    '# drift-engine. Put your API token in the Headers tab below:',
    '#   {"Authorization": "Bearer dre_..."}',
    '# (first start on SQLite: the token is in the file named in the log).',
    '',
    '{',
    '  viewer { email }',
    '  workspaces(first: 10) {',
    '    edges { node { id name tenants(first: 10) { edges { node { id name } } } } }',
    '  }',
    '}',
    '',
    '# Then: findings(tenantId: "<a tenant id>", first: 20) { totalCount edges { node {',
    '#   findingType fidelity subject { policyType displayName } } } }',
    '',
  ].join('\n');

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: true,
    }),
  );
})();
