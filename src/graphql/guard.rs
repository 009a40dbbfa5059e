//! Limits that hold before any work is spent on a document: its size in
//! tokens, the selections it asks for once its fragments are expanded, and
//! its depth; and, across the requests of one batch, their complexity.
//!
//! async-graphql's own validation walks a document with every fragment
//! spread expanded, so a 1.8 KB document whose fragments each spread the
//! previous one twice cost 2^30 visits before its complexity limit could
//! refuse it. Here each fragment is measured once, dependencies first, so a
//! document costs time linear in its size whatever it would expand to.

use std::any::TypeId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Request, ServerError, ServerResult, ValidationResult};

use super::RequestAuth;
use crate::config::GraphqlLimits;
use crate::evidence::ingest::nul_refused;

/// The complexity the requests of one HTTP batch have used so far.
#[derive(Clone, Default)]
pub struct BatchBudget(Arc<AtomicUsize>);

pub struct RequestGuard {
    pub limits: GraphqlLimits,
}

impl ExtensionFactory for RequestGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guard {
            limits: self.limits,
        })
    }
}

struct Guard {
    limits: GraphqlLimits,
}

/// Whether the operation the request runs (by name, or its only one) is a
/// mutation; a name the document lacks is left for execution to refuse.
fn is_mutation(
    document: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let mutation = |op: &async_graphql::Positioned<
        async_graphql::parser::types::OperationDefinition,
    >| { op.node.ty == OperationType::Mutation };
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => mutation(op),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.iter().any(|(n, op)| n.as_str() == name && mutation(op))
        }
        (DocumentOperations::Multiple(ops), None) => ops.values().any(mutation),
    }
}

fn refuse(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error.extensions = Some({
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", "BAD_USER_INPUT");
        ext
    });
    error
}

#[async_trait::async_trait]
impl Extension for Guard {
    /// Before async-graphql sees the document: its parse step checks the
    /// recursion depth with fragments expanded, which is exponential too.
    /// The document is parsed once, here, and handed on parsed.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // HTTP requests carry the caller in their data, WebSocket
        // operations in the connection's.
        let auth = request
            .data
            .get(&TypeId::of::<RequestAuth>())
            .and_then(|d| d.downcast_ref::<RequestAuth>())
            .or_else(|| ctx.data_opt::<RequestAuth>());
        let anonymous = !matches!(auth, Some(RequestAuth::Authenticated(_)));
        let max_tokens = if anonymous {
            self.limits.anonymous_tokens
        } else {
            self.limits.tokens
        };
        if count_tokens(&request.query, max_tokens) > max_tokens {
            return Err(refuse(format!(
                "the document has more than {max_tokens} tokens{}",
                if anonymous {
                    " (the limit for requests without a token)"
                } else {
                    ""
                }
            )));
        }
        // PostgreSQL's text cannot hold NUL: refused at the door, with the
        // place it was found, whatever field it was meant for.
        let nul_at = nul_in_variables(&request.variables)
            .or_else(|| has_nul_escape(&request.query).then(|| "the document".to_owned()));
        if let Some(at) = nul_at {
            return Err(refuse(nul_refused(&at).to_string()));
        }
        let read_only = matches!(auth, Some(RequestAuth::Authenticated(v)) if v.read_only);
        let operation = request.operation_name.clone();
        if read_only && is_mutation(request.parsed_query()?, operation.as_deref()) {
            let mut error = ServerError::new(
                "this token is read-only: mutations need a token created without readOnly",
                None,
            );
            error.extensions = Some({
                let mut ext = async_graphql::ErrorExtensionValues::default();
                ext.set("code", "FORBIDDEN");
                ext
            });
            return Err(error);
        }
        let shape = measure(request.parsed_query()?).map_err(refuse)?;
        if shape.selections > self.limits.selections as u64 {
            return Err(refuse(format!(
                "Query is too complex: it selects more than {} fields once its fragments are expanded",
                self.limits.selections
            )));
        }
        if shape.depth > self.limits.depth {
            return Err(refuse(format!(
                "Query is nested too deep: {} levels, at most {} (introspection is not counted)",
                shape.depth, self.limits.depth
            )));
        }
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if let Some(BatchBudget(used)) = ctx.data_opt::<BatchBudget>() {
            let total = used.fetch_add(result.complexity, Ordering::SeqCst) + result.complexity;
            if total > self.limits.complexity {
                return Err(vec![refuse(format!(
                    "the batch is too complex: its requests add up to more than {}",
                    self.limits.complexity
                ))]);
            }
        }
        Ok(result)
    }
}

/// Where the first NUL in a request's variables is (`variables.i.items[3]`).
/// A first walk with a stack of its own and no strings: variables can be
/// 64 MiB of policies; only a request that holds a NUL pays for its path.
fn nul_in_variables(variables: &async_graphql::Variables) -> Option<String> {
    use async_graphql::Value;
    fn holds_nul(value: &Value) -> bool {
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(text) if text.contains('\0') => return true,
                Value::List(items) => stack.extend(items),
                Value::Object(map) => {
                    for (key, v) in map {
                        if key.contains('\0') {
                            return true;
                        }
                        stack.push(v);
                    }
                }
                _ => {}
            }
        }
        false
    }
    let (name, value) = variables.iter().find(|(_, v)| holds_nul(v))?;
    let mut stack: Vec<(String, &Value)> = vec![(format!("variables.{name}"), value)];
    while let Some((at, value)) = stack.pop() {
        match value {
            Value::String(text) if text.contains('\0') => return Some(at),
            Value::List(items) => {
                stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("{at}[{i}]"), v)),
                );
            }
            Value::Object(map) => {
                for (key, v) in map {
                    if key.contains('\0') {
                        return Some(format!("a key of {at}"));
                    }
                    stack.push((format!("{at}.{key}"), v));
                }
            }
            _ => {}
        }
    }
    None
}

/// A NUL in the document itself: raw, or as a GraphQL escape (`\u0000`,
/// `\u{0}`) in a string literal.
fn has_nul_escape(query: &str) -> bool {
    if query.contains('\0') {
        return true;
    }
    let bytes = query.as_bytes();
    bytes.windows(2).enumerate().any(|(i, w)| {
        if w != b"\\u" {
            return false;
        }
        let rest = &bytes[i + 2..];
        if let Some(braced) = rest.strip_prefix(b"{") {
            let digits: Vec<u8> = braced.iter().copied().take_while(|b| *b != b'}').collect();
            !digits.is_empty() && digits.iter().all(|d| *d == b'0')
        } else {
            rest.len() >= 4 && rest[..4].iter().all(|d| *d == b'0')
        }
    })
}

/// GraphQL's lexical tokens in `text` (punctuators, names, numbers,
/// strings), counted up to a little past `stop`.
pub fn count_tokens(text: &str, stop: usize) -> usize {
    let bytes = text.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < bytes.len() && n <= stop {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                n += 1;
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
            }
            b'"' => {
                n += 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                n += 1;
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                n += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'.' | b'-' | b'+'))
                {
                    i += 1;
                }
            }
            _ => {
                n += 1;
                i += 1;
            }
        }
    }
    n
}

/// What a document asks for with its fragments expanded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Fields selected, each fragment counted as often as it is spread
    /// (saturating: a bomb stays at `u64::MAX`).
    pub selections: u64,
    /// The deepest field nesting, introspection (`__schema`, `__type`)
    /// not counted: its `ofType` chain is set by the GraphQL specification,
    /// and its size is bounded by the schema.
    pub depth: usize,
}

/// The largest shape of the document's operations. Fragments are measured
/// once each in dependency order (Kahn's algorithm), so the work is linear
/// in the document; a fragment cycle is refused.
pub fn measure(document: &ExecutableDocument) -> Result<Shape, String> {
    let fragments = &document.fragments;
    let mut uses: HashMap<&Name, HashSet<&Name>> = HashMap::with_capacity(fragments.len());
    for (name, fragment) in fragments {
        let mut spread = HashSet::new();
        spreads(&fragment.node.selection_set.node, &mut spread);
        spread.retain(|used| fragments.contains_key(*used));
        uses.insert(name, spread);
    }
    let mut used_by: HashMap<&Name, Vec<&Name>> = HashMap::new();
    let mut waiting: HashMap<&Name, usize> = HashMap::with_capacity(fragments.len());
    for (name, spread) in &uses {
        waiting.insert(name, spread.len());
        for used in spread {
            used_by.entry(used).or_default().push(name);
        }
    }
    let mut ready: VecDeque<&Name> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(name, _)| *name)
        .collect();
    let mut measured: HashMap<&Name, Shape> = HashMap::with_capacity(fragments.len());
    while let Some(name) = ready.pop_front() {
        let shape = shape_of(&fragments[name].node.selection_set.node, &measured);
        measured.insert(name, shape);
        for user in used_by.get(name).into_iter().flatten() {
            if let Some(n) = waiting.get_mut(user) {
                *n -= 1;
                if *n == 0 {
                    ready.push_back(user);
                }
            }
        }
    }
    if measured.len() < fragments.len() {
        return Err("the document's fragments spread each other in a cycle".into());
    }
    Ok(document
        .operations
        .iter()
        .map(|(_, op)| shape_of(&op.node.selection_set.node, &measured))
        .fold(Shape::default(), |a, b| Shape {
            selections: a.selections.max(b.selections),
            depth: a.depth.max(b.depth),
        }))
}

fn spreads<'a>(set: &'a SelectionSet, out: &mut HashSet<&'a Name>) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => spreads(&field.node.selection_set.node, out),
            Selection::InlineFragment(inline) => spreads(&inline.node.selection_set.node, out),
            Selection::FragmentSpread(spread) => {
                out.insert(&spread.node.fragment_name.node);
            }
        }
    }
}

/// Nesting inside one definition is bounded by the parser's recursion
/// limit; fragments come measured.
fn shape_of(set: &SelectionSet, fragments: &HashMap<&Name, Shape>) -> Shape {
    let mut shape = Shape::default();
    for item in &set.items {
        let inner = match &item.node {
            Selection::Field(field) => {
                let sub = shape_of(&field.node.selection_set.node, fragments);
                let name = field.node.name.node.as_str();
                let introspection = name == "__schema" || name == "__type";
                Shape {
                    selections: sub.selections.saturating_add(1),
                    depth: if introspection { 0 } else { sub.depth + 1 },
                }
            }
            Selection::InlineFragment(inline) => {
                shape_of(&inline.node.selection_set.node, fragments)
            }
            Selection::FragmentSpread(spread) => fragments
                .get(&spread.node.fragment_name.node)
                .copied()
                .unwrap_or_default(),
        };
        shape.selections = shape.selections.saturating_add(inner.selections);
        shape.depth = shape.depth.max(inner.depth);
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str) -> Result<Shape, String> {
        measure(&async_graphql::parser::parse_query(query).expect("parses"))
    }

    fn bomb(n: usize) -> String {
        let mut q = format!("{{ ...C{n} }} fragment C0 on Query {{ viewer {{ email }} }}");
        for i in 1..=n {
            q.push_str(&format!(
                " fragment C{i} on Query {{ a: viewer {{ id }} ...C{p} ...C{p} }}",
                p = i - 1
            ));
        }
        q
    }

    #[test]
    fn fragments_count_as_often_as_they_are_spread() {
        let s = shape("{ ...A ...A } fragment A on Query { viewer { id email } }").expect("ok");
        assert_eq!(
            s,
            Shape {
                selections: 6,
                depth: 2
            }
        );
        // C0 selects 2; each level adds 2 and doubles the one below.
        assert_eq!(shape(&bomb(3)).expect("ok").selections, 30);
        assert_eq!(shape(&bomb(30)).expect("ok").selections, (1 << 32) - 2);
        assert_eq!(shape(&bomb(200)).expect("ok").selections, u64::MAX);
    }

    #[test]
    fn introspection_is_not_counted_in_depth() {
        let s = shape("{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } viewer { id } }")
            .expect("ok");
        assert_eq!(s.depth, 2);
        assert_eq!(s.selections, 10);
    }

    #[test]
    fn cycles_are_refused_and_unknown_fragments_left_to_validation() {
        assert!(
            shape("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }").is_err()
        );
        assert_eq!(
            shape("{ ...Nowhere viewer { id } }")
                .expect("ok")
                .selections,
            2
        );
    }

    #[test]
    fn tokens_are_counted_as_graphql_lexes_them() {
        assert_eq!(count_tokens("{ viewer { id } }", 100), 6);
        assert_eq!(
            count_tokens(
                "query Q($a: Int = -1.5e3) { x(s: \"a b, c\\\"\") ...F }",
                100
            ),
            20
        );
        assert_eq!(
            count_tokens("# only a comment\n\"\"\"block \"\" string\"\"\" x", 100),
            2
        );
        // Counting stops a little past the limit, whatever the length.
        assert_eq!(count_tokens(&"a ".repeat(1_000_000), 10), 11);
    }
}
