//! Response fields in the order the query asked for them.
//!
//! async-graphql 7.2 resolves the fields of a query concurrently and writes
//! each into the response as it completes, so a field that waits on the
//! database (a lazy `totalCount`, a DataLoader) can land after fields asked
//! for later. The spec wants the selection order (7.2.2, "Serialized Map
//! Ordering"), and people reading GraphiQL expect it. The HTTP layer puts
//! each object's keys back in the order of its selection set, fragments
//! included.

use std::collections::HashSet;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::parse_query;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Name, Response, Value};

/// Puts `response.data` in the order of the operation's selection sets.
/// Called on the way out of HTTP, after execution: as a schema extension it
/// sent every field through the extension's resolve path, which cost more
/// than the page itself. Parsing the query again takes microseconds.
pub fn in_selection_order(response: &mut Response, query: &str, operation_name: Option<&str>) {
    if matches!(response.data, Value::Null) {
        return;
    }
    let Ok(document) = parse_query(query) else {
        return;
    };
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
                if let Some(child) = map.swap_remove(key) {
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
