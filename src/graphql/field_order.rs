//! Response fields in the order the query asked for them.
//!
//! async-graphql 7.2 resolves the fields of a query concurrently and writes
//! each into the response as it completes, so a field that waits on the
//! database (a lazy `totalCount`, a DataLoader) can land after fields asked
//! for later. The spec wants the selection order (7.2.2, "Serialized Map
//! Ordering"), and people reading GraphiQL expect it. This extension puts each
//! object's keys back in the order of its selection set, fragments included.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Name, Response, ServerResult, Value, Variables};

pub struct FieldOrder;

impl ExtensionFactory for FieldOrder {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldOrderExtension::default())
    }
}

#[derive(Default)]
struct FieldOrderExtension {
    document: Mutex<Option<ExecutableDocument>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for FieldOrderExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Ok(mut slot) = self.document.lock() {
            *slot = Some(document.clone());
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let document = self.document.lock().ok().and_then(|mut d| d.take());
        if let Some(document) = document {
            let operation = match &document.operations {
                DocumentOperations::Single(op) => Some(op),
                DocumentOperations::Multiple(ops) => match operation_name {
                    Some(name) => ops.get(name),
                    None if ops.len() == 1 => ops.values().next(),
                    None => None,
                },
            };
            if let Some(operation) = operation {
                let data = std::mem::take(&mut response.data);
                response.data = reorder(data, &[&operation.node.selection_set.node], &document);
            }
        }
        response
    }
}

/// `value` with every object's keys in the order of the selection sets that
/// produced it (several when fields of one response key are merged).
fn reorder(value: Value, sets: &[&SelectionSet], document: &ExecutableDocument) -> Value {
    match value {
        Value::List(items) => Value::List(
            items
                .into_iter()
                .map(|item| reorder(item, sets, document))
                .collect(),
        ),
        Value::Object(mut map) => {
            let mut fields = Vec::new();
            let mut visited = HashSet::new();
            for set in sets {
                collect_fields(set, document, &mut fields, &mut visited);
            }
            let mut ordered = IndexMap::with_capacity(map.len());
            let mut keys: Vec<&Name> = Vec::new();
            for (key, _) in &fields {
                if !keys.contains(key) {
                    keys.push(key);
                }
            }
            for key in keys {
                if let Some(child) = map.shift_remove(key) {
                    let child_sets: Vec<&SelectionSet> = fields
                        .iter()
                        .filter(|(k, _)| *k == key)
                        .map(|(_, s)| *s)
                        .collect();
                    ordered.insert(key.clone(), reorder(child, &child_sets, document));
                }
            }
            // Anything not named by the query (there should be nothing) keeps its place at the end.
            ordered.extend(map);
            Value::Object(ordered)
        }
        other => other,
    }
}

/// The fields of a selection set in document order, fragments expanded:
/// (response key, the field's own selection set).
fn collect_fields<'a>(
    set: &'a SelectionSet,
    document: &'a ExecutableDocument,
    out: &mut Vec<(&'a Name, &'a SelectionSet)>,
    visited: &mut HashSet<&'a Name>,
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                out.push((
                    &field.node.response_key().node,
                    &field.node.selection_set.node,
                ));
            }
            Selection::InlineFragment(fragment) => {
                collect_fields(&fragment.node.selection_set.node, document, out, visited);
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                // Validation refuses cycles; this guard just keeps it that way.
                if visited.insert(name)
                    && let Some(fragment) = document.fragments.get(name)
                {
                    collect_fields(&fragment.node.selection_set.node, document, out, visited);
                    visited.remove(name);
                }
            }
        }
    }
}
