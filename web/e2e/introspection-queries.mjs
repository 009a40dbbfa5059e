// Prints the introspection queries of the pinned `graphql` package as JSON:
// the default one (graphql-codegen, Apollo tooling) and the one GraphiQL
// sends, with every option it turns on.
import { getIntrospectionQuery } from "graphql";

console.log(
  JSON.stringify([
    getIntrospectionQuery(),
    getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      oneOf: true,
    }),
  ]),
);
