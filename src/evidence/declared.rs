//! Declared state: what an IaC tool says an environment holds, read into one
//! shape, the declared resources `{type, id, address, attributes}`, keyed
//! by (resource type, cloud id). Three formats:
//!
//! - `TERRAFORM_STATE`: the state file, format version 4 (Terraform 0.12 and
//!   later; `internal/states/statefile/version4.go` in hashicorp/terraform).
//!   Managed resources only: data sources are skipped and counted. Module
//!   and `count` / `for_each` instances are addressed as Terraform prints
//!   them (`module.net.aws_subnet.private["a"]`, `aws_instance.web[0]`). The
//!   cloud id is `attributes.id`. Paths listed in `sensitive_attributes`
//!   (`[[{"type": "get_attr", "value": "password"}, {"type": "index",
//!   "value": {"value": 0, "type": "number"}}]]`) are replaced by the secret
//!   marker here, before anything is stored.
//! - `CLOUDFORMATION`: `{template, resources: [{LogicalResourceId,
//!   PhysicalResourceId, ResourceType}]}` (the template and the stack's
//!   `DescribeStackResources`). Each stack resource's template `Properties`,
//!   keyed by its physical id. `Ref` to another resource of the stack
//!   resolves to its physical id and `Ref` to a parameter to its default;
//!   `Fn::Join` and `Fn::Sub` resolve when all their parts do (`${Name}` as
//!   `Ref` would). An intrinsic that cannot be resolved without the deployed
//!   stack (`Fn::GetAtt`, pseudo parameters such as `AWS::StackName`,
//!   `Fn::ImportValue`, ...) is kept as it is, with a warning.
//!   A dependency cycle between resources (through `Ref`, `Fn::GetAtt`,
//!   `Fn::Sub` or `DependsOn`) is refused, as CloudFormation refuses it.
//! - `RESOURCES`: `{resources: [{type, id, name, attributes}]}` for any
//!   other tool.
//!
//! A document that does not parse in its format is refused with the first
//! problem named; nothing of it is kept.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::registry::SECRET_MARKER;
use crate::error::{Error, Result};

/// Longest resource type and id accepted.
const MAX_TYPE_CHARS: usize = 256;
const MAX_ID_CHARS: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclaredFormat {
    TerraformState,
    CloudFormation,
    Resources,
}

/// One declared resource.
#[derive(Clone, Debug, PartialEq)]
pub struct DeclaredResource {
    /// The provider's type: `aws_security_group`, `AWS::EC2::SecurityGroup`.
    pub resource_type: String,
    /// The cloud id: Terraform's `attributes.id`, CloudFormation's physical id.
    pub id: String,
    /// Where it is declared: a Terraform address or a logical id.
    pub address: String,
    /// Its attributes (an object), sensitive values replaced.
    pub attributes: Value,
}

/// Something that did not stop the reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredWarning {
    /// A stable code: `declared_without_id`, `deposed_object_skipped`,
    /// `intrinsic_unresolved`, `stack_resource_without_physical_id`.
    pub code: &'static str,
    pub address: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Declared {
    pub resources: Vec<DeclaredResource>,
    /// Terraform data sources, which declare nothing.
    pub data_sources_skipped: usize,
    pub warnings: Vec<DeclaredWarning>,
}

fn bad(message: impl Into<String>) -> Error {
    Error::bad_input(message)
}

/// Reads `document` in `format`.
pub fn parse(format: DeclaredFormat, document: &Value) -> Result<Declared> {
    let mut declared = match format {
        DeclaredFormat::TerraformState => terraform_state(document)?,
        DeclaredFormat::CloudFormation => cloudformation(document)?,
        DeclaredFormat::Resources => resources(document)?,
    };
    check_unique(&declared.resources)?;
    declared
        .resources
        .sort_by(|a, b| (&a.resource_type, &a.id).cmp(&(&b.resource_type, &b.id)));
    Ok(declared)
}

fn check_unique(resources: &[DeclaredResource]) -> Result<()> {
    let mut seen: HashMap<(&str, &str), &str> = HashMap::with_capacity(resources.len());
    for r in resources {
        if let Some(first) = seen.insert((&r.resource_type, &r.id), &r.address) {
            return Err(bad(format!(
                "{} {:?} is declared twice, by {first} and by {}: one cloud resource has one declaration",
                r.resource_type, r.id, r.address
            )));
        }
    }
    Ok(())
}

fn check_type_and_id(kind: &str, id: &str, at: &str) -> Result<()> {
    if kind.is_empty() || kind.chars().count() > MAX_TYPE_CHARS || kind.contains('\0') {
        return Err(bad(format!(
            "{at}: the resource type must be 1 to {MAX_TYPE_CHARS} characters"
        )));
    }
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.contains('\0') {
        return Err(bad(format!(
            "{at}: the id must be 1 to {MAX_ID_CHARS} characters"
        )));
    }
    Ok(())
}

fn str_field<'a>(object: &'a Value, key: &str, at: &str) -> Result<&'a str> {
    object
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{at}: `{key}` must be a string")))
}

// ---------------------------------------------------------------- Terraform

/// `[0]`, `["a"]` as Terraform prints an instance key.
fn index_suffix(key: &Value, at: &str) -> Result<String> {
    match key {
        Value::Null => Ok(String::new()),
        Value::Number(n) if n.is_u64() => Ok(format!("[{n}]")),
        Value::String(s) => Ok(format!("[{}]", Value::String(s.clone()))),
        other => Err(bad(format!(
            "{at}: index_key must be a whole number or a string, not {other}"
        ))),
    }
}

/// Replaces the value at a Terraform sensitive path with the marker. A path
/// that does not reach a value (an attribute that is null) changes nothing.
fn redact_path(attributes: &mut Value, path: &[Value], at: &str) -> Result<()> {
    let mut node = attributes;
    for step in path {
        let kind = step.get("type").and_then(Value::as_str).unwrap_or_default();
        let value = step.get("value");
        let next = match (kind, value) {
            ("get_attr", Some(Value::String(name))) => node.get_mut(name.as_str()),
            ("index", Some(key)) => match (&key["type"], &key["value"]) {
                (t, Value::Number(n)) if t == "number" => n
                    .as_u64()
                    .and_then(|i| node.get_mut(usize::try_from(i).ok()?)),
                (t, Value::String(k)) if t == "string" => node.get_mut(k.as_str()),
                _ => {
                    return Err(bad(format!(
                        "{at}: sensitive_attributes has an index step that is neither a number nor a string: {key}"
                    )));
                }
            },
            _ => {
                return Err(bad(format!(
                    "{at}: sensitive_attributes has a step that is not get_attr or index: {step}"
                )));
            }
        };
        match next {
            Some(n) => node = n,
            None => return Ok(()),
        }
    }
    if !node.is_null() {
        *node = Value::String(SECRET_MARKER.to_owned());
    }
    Ok(())
}

fn terraform_state(document: &Value) -> Result<Declared> {
    let Some(state) = document.as_object() else {
        return Err(bad(
            "a TERRAFORM_STATE document must be the state file's JSON object",
        ));
    };
    match state.get("version").and_then(Value::as_u64) {
        Some(4) => {}
        Some(v) => {
            return Err(bad(format!(
                "the state is format version {v}; this reads version 4 (Terraform 0.12 and later): run `terraform state pull` with a current Terraform to upgrade it"
            )));
        }
        None => return Err(bad("the state has no format `version`")),
    }
    let resources = state
        .get("resources")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("the state has no `resources` array"))?;
    let mut declared = Declared::default();
    for (i, resource) in resources.iter().enumerate() {
        let at = format!("resources[{i}]");
        let mode = str_field(resource, "mode", &at)?;
        let kind = str_field(resource, "type", &at)?;
        let name = str_field(resource, "name", &at)?;
        let instances = resource
            .get("instances")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("{at}: `instances` must be an array")))?;
        match mode {
            "managed" => {}
            "data" => {
                declared.data_sources_skipped += instances.len().max(1);
                continue;
            }
            other => {
                return Err(bad(format!(
                    "{at}: mode must be managed or data, not {other:?}"
                )));
            }
        }
        let module = match resource.get("module") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(m)) if m.is_empty() => String::new(),
            Some(Value::String(m)) => format!("{m}."),
            Some(_) => return Err(bad(format!("{at}: `module` must be a string"))),
        };
        for (j, instance) in instances.iter().enumerate() {
            let at = format!("{at}.instances[{j}]");
            let address = format!(
                "{module}{kind}.{name}{}",
                index_suffix(instance.get("index_key").unwrap_or(&Value::Null), &at)?
            );
            if instance.get("deposed").is_some_and(|d| !d.is_null()) {
                declared.warnings.push(DeclaredWarning {
                    code: "deposed_object_skipped",
                    address: address.clone(),
                    reason: format!(
                        "{address} has a deposed object (left by create_before_destroy, to be destroyed); it is not declared"
                    ),
                });
                continue;
            }
            let mut attributes = match instance.get("attributes") {
                Some(Value::Object(a)) => Value::Object(a.clone()),
                Some(_) => {
                    return Err(bad(format!(
                        "{at} ({address}): attributes must be an object"
                    )));
                }
                None if instance.get("attributes_flat").is_some() => {
                    return Err(bad(format!(
                        "{at} ({address}): attributes_flat (a provider from before Terraform 0.12) cannot be read; refresh the state with a current provider"
                    )));
                }
                None => return Err(bad(format!("{at} ({address}): no attributes"))),
            };
            match instance.get("sensitive_attributes") {
                None | Some(Value::Null) => {}
                Some(Value::Array(paths)) => {
                    for path in paths {
                        let steps = path.as_array().ok_or_else(|| {
                            bad(format!(
                                "{at} ({address}): each sensitive_attributes entry must be a path (an array of steps)"
                            ))
                        })?;
                        redact_path(&mut attributes, steps, &at)?;
                    }
                }
                Some(_) => {
                    return Err(bad(format!(
                        "{at} ({address}): sensitive_attributes must be an array of paths"
                    )));
                }
            }
            let Some(id) = attributes
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                declared.warnings.push(DeclaredWarning {
                    code: "declared_without_id",
                    address: address.clone(),
                    reason: format!(
                        "{address} has no attributes.id, so it cannot be matched to a cloud resource; it is not declared"
                    ),
                });
                continue;
            };
            check_type_and_id(kind, &id, &address)?;
            declared.resources.push(DeclaredResource {
                resource_type: kind.to_owned(),
                id,
                address,
                attributes,
            });
        }
    }
    Ok(declared)
}

// ----------------------------------------------------------- CloudFormation

/// The logical ids `value` depends on, as CloudFormation counts them.
fn references(value: &Value, resources: &Map<String, Value>, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("Ref")
                && resources.contains_key(target)
            {
                out.insert(target.clone());
            }
            if let Some(att) = map.get("Fn::GetAtt") {
                let target = match att {
                    Value::Array(parts) => parts.first().and_then(Value::as_str),
                    Value::String(s) => s.split('.').next(),
                    _ => None,
                };
                if let Some(t) = target.filter(|t| resources.contains_key(*t)) {
                    out.insert(t.to_owned());
                }
            }
            if let Some(sub) = map.get("Fn::Sub") {
                let text = match sub {
                    Value::String(s) => Some(s.as_str()),
                    Value::Array(parts) => parts.first().and_then(Value::as_str),
                    _ => None,
                };
                for name in text.map(sub_names).unwrap_or_default() {
                    let base = name.split('.').next().unwrap_or_default();
                    if resources.contains_key(base) {
                        out.insert(base.to_owned());
                    }
                }
            }
            for v in map.values() {
                references(v, resources, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, resources, out)),
        _ => {}
    }
}

/// The `${Name}` references of a `Fn::Sub` string (`${!Literal}` is none).
fn sub_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.starts_with('!') {
            names.push(name.trim().to_owned());
        }
        rest = &after[end + 1..];
    }
    names
}

/// Refuses a template whose resources depend on each other in a cycle.
fn check_acyclic(resources: &Map<String, Value>) -> Result<()> {
    let mut edges: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (logical, body) in resources {
        let mut deps = BTreeSet::new();
        references(body, resources, &mut deps);
        match body.get("DependsOn") {
            Some(Value::String(d)) => {
                deps.insert(d.clone());
            }
            Some(Value::Array(ds)) => {
                deps.extend(ds.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            _ => {}
        }
        deps.retain(|d| resources.contains_key(d));
        edges.insert(logical.as_str(), deps);
    }
    // Iterative depth-first search: 0 unvisited, 1 on the path, 2 done.
    let mut state: HashMap<&str, u8> = HashMap::new();
    for &root in edges.keys() {
        if state.get(root).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut path: Vec<(&str, Vec<&str>)> =
            vec![(root, edges[root].iter().map(String::as_str).collect())];
        state.insert(root, 1);
        while let Some((node, pending)) = path.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) => match state.get(next).copied().unwrap_or(0) {
                    0 => {
                        state.insert(next, 1);
                        let deps = edges
                            .get(next)
                            .map(|d| d.iter().map(String::as_str).collect())
                            .unwrap_or_default();
                        path.push((next, deps));
                    }
                    1 => {
                        let start = path.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        let mut cycle: Vec<&str> = path[start..].iter().map(|(n, _)| *n).collect();
                        cycle.push(next);
                        return Err(bad(format!(
                            "the template's resources depend on each other in a cycle: {}",
                            cycle.join(" → ")
                        )));
                    }
                    _ => {}
                },
                None => {
                    state.insert(node, 2);
                    path.pop();
                }
            }
        }
    }
    Ok(())
}

struct Intrinsics<'a> {
    physical: &'a HashMap<String, String>,
    parameters: &'a Map<String, Value>,
}

impl Intrinsics<'_> {
    /// `value` with the intrinsics resolved that can be; the others are
    /// kept and named in `unresolved`.
    fn resolve(&self, value: &Value, unresolved: &mut BTreeSet<String>) -> Value {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map
                    .iter()
                    .next()
                    .map(|(k, v)| (k.as_str(), v))
                    .unwrap_or(("", value));
                match key {
                    "Ref" => {
                        if let Some(target) = arg.as_str() {
                            if let Some(id) = self.physical.get(target) {
                                return Value::String(id.clone());
                            }
                            if let Some(default) =
                                self.parameters.get(target).and_then(|p| p.get("Default"))
                            {
                                return default.clone();
                            }
                        }
                        unresolved.insert(format!("Ref {arg}"));
                        value.clone()
                    }
                    "Fn::Join" => {
                        let parts = arg.as_array();
                        if let Some([Value::String(sep), Value::Array(items)]) =
                            parts.map(Vec::as_slice)
                        {
                            let mut inner = BTreeSet::new();
                            let resolved: Vec<Value> =
                                items.iter().map(|v| self.resolve(v, &mut inner)).collect();
                            if inner.is_empty() && resolved.iter().all(Value::is_string) {
                                return Value::String(
                                    resolved
                                        .iter()
                                        .filter_map(Value::as_str)
                                        .collect::<Vec<_>>()
                                        .join(sep),
                                );
                            }
                            unresolved.extend(inner);
                        }
                        unresolved.insert("Fn::Join".into());
                        value.clone()
                    }
                    "Fn::Sub" => {
                        if let Some(text) = self.sub(arg) {
                            return Value::String(text);
                        }
                        unresolved.insert("Fn::Sub".into());
                        value.clone()
                    }
                    k if k == "Condition" || !k.starts_with("Fn::") => Value::Object(
                        map.iter()
                            .map(|(k, v)| (k.clone(), self.resolve(v, unresolved)))
                            .collect(),
                    ),
                    other => {
                        unresolved.insert(other.to_owned());
                        value.clone()
                    }
                }
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v, unresolved)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.resolve(v, unresolved)).collect())
            }
            other => other.clone(),
        }
    }
}

impl Intrinsics<'_> {
    /// A `Fn::Sub` whose every `${Name}` is a resource of the stack (its
    /// physical id, as `Ref` gives) or a parameter with a default;
    /// `${!Literal}` is `${Literal}`. `None` when one is not.
    fn sub(&self, arg: &Value) -> Option<String> {
        let (text, vars) = match arg {
            Value::String(t) => (t.as_str(), None),
            Value::Array(parts) => match parts.as_slice() {
                [Value::String(t), Value::Object(vars)] => (t.as_str(), Some(vars)),
                _ => return None,
            },
            _ => return None,
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}')?;
            let name = after[..end].trim();
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let value = match vars.and_then(|v| v.get(name)) {
                    Some(Value::String(v)) => v.clone(),
                    Some(other) => {
                        let mut inner = BTreeSet::new();
                        match self.resolve(other, &mut inner) {
                            Value::String(v) if inner.is_empty() => v,
                            _ => return None,
                        }
                    }
                    None => match self.physical.get(name) {
                        Some(id) => id.clone(),
                        None => self
                            .parameters
                            .get(name)
                            .and_then(|p| p.get("Default"))
                            .and_then(Value::as_str)?
                            .to_owned(),
                    },
                };
                out.push_str(&value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

fn cloudformation(document: &Value) -> Result<Declared> {
    let template = match document.get("template") {
        Some(Value::Object(_)) => document["template"].clone(),
        // A template sent as its JSON text.
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).map_err(|e| {
            bad(format!(
                "template is a string that is not a JSON template ({e}); send the template as JSON"
            ))
        })?,
        _ => return Err(bad("a CLOUDFORMATION document needs a `template` object")),
    };
    let template_resources = template
        .get("Resources")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("the template has no `Resources` object"))?;
    let parameters = template
        .get("Parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    check_acyclic(template_resources)?;
    let stack = document
        .get("resources")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            bad("a CLOUDFORMATION document needs `resources`: the stack's resources (LogicalResourceId, PhysicalResourceId, ResourceType)")
        })?;
    let mut declared = Declared::default();
    let mut physical: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::new();
    for (i, r) in stack.iter().enumerate() {
        let at = format!("resources[{i}]");
        let logical = str_field(r, "LogicalResourceId", &at)?.to_owned();
        let kind = str_field(r, "ResourceType", &at)?.to_owned();
        let Some(body) = template_resources.get(&logical) else {
            return Err(bad(format!(
                "{at}: the template has no resource {logical:?}"
            )));
        };
        if let Some(t) = body.get("Type").and_then(Value::as_str)
            && t != kind
        {
            return Err(bad(format!(
                "{at}: {logical} is {kind} in the stack but {t} in the template"
            )));
        }
        match r.get("PhysicalResourceId").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => {
                physical.insert(logical.clone(), id.to_owned());
                rows.push((logical, kind, id.to_owned(), body));
            }
            _ => declared.warnings.push(DeclaredWarning {
                code: "stack_resource_without_physical_id",
                address: logical.clone(),
                reason: format!(
                    "{logical} has no PhysicalResourceId (not created, or its creation failed); it is not declared"
                ),
            }),
        }
    }
    let intrinsics = Intrinsics {
        physical: &physical,
        parameters: &parameters,
    };
    for (logical, kind, id, body) in rows {
        check_type_and_id(&kind, &id, &logical)?;
        let mut unresolved = BTreeSet::new();
        let attributes = match body.get("Properties") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(p @ Value::Object(_)) => intrinsics.resolve(p, &mut unresolved),
            Some(_) => return Err(bad(format!("{logical}: Properties must be an object"))),
        };
        if !unresolved.is_empty() {
            declared.warnings.push(DeclaredWarning {
                code: "intrinsic_unresolved",
                address: logical.clone(),
                reason: format!(
                    "{logical}: {} cannot be resolved without the deployed stack, so it is kept as written",
                    unresolved.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        declared.resources.push(DeclaredResource {
            resource_type: kind,
            id,
            address: logical,
            attributes,
        });
    }
    Ok(declared)
}

// ---------------------------------------------------------------- Resources

fn resources(document: &Value) -> Result<Declared> {
    let items = document
        .get("resources")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("a RESOURCES document needs a `resources` array"))?;
    let mut declared = Declared::default();
    for (i, r) in items.iter().enumerate() {
        let at = format!("resources[{i}]");
        let kind = str_field(r, "type", &at)?;
        let id = str_field(r, "id", &at)?;
        check_type_and_id(kind, id, &at)?;
        let attributes = match r.get("attributes") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(a @ Value::Object(_)) => a.clone(),
            Some(_) => return Err(bad(format!("{at}: attributes must be an object"))),
        };
        let address = match r.get("name") {
            Some(Value::String(n)) if !n.is_empty() => n.clone(),
            _ => format!("{kind}.{id}"),
        };
        declared.resources.push(DeclaredResource {
            resource_type: kind.to_owned(),
            id: id.to_owned(),
            address,
            attributes,
        });
    }
    Ok(declared)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/iac/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
    }

    fn by_address(d: &Declared) -> BTreeMap<&str, &DeclaredResource> {
        d.resources
            .iter()
            .map(|r| (r.address.as_str(), r))
            .collect()
    }

    fn refused(format: DeclaredFormat, document: &Value) -> String {
        match parse(format, document) {
            Err(Error::BadUserInput(message)) => message,
            other => panic!("expected BAD_USER_INPUT, got {other:?}"),
        }
    }

    #[test]
    fn a_terraform_state_declares_managed_instances_by_address_with_secrets_replaced() {
        let d = parse(
            DeclaredFormat::TerraformState,
            &fixture("terraform.tfstate"),
        )
        .expect("reads");
        let r = by_address(&d);
        assert_eq!(
            r.keys().copied().collect::<Vec<_>>(),
            [
                "aws_instance.web[0]",
                "aws_instance.web[1]",
                "aws_vpc.main",
                "module.db[\"primary\"].aws_db_instance.this",
                "module.net.aws_subnet.private[\"a\"]",
                "module.net.aws_subnet.private[\"b\"]",
            ]
        );
        assert_eq!(d.data_sources_skipped, 1);
        assert_eq!(r["aws_vpc.main"].id, "vpc-0a1b2c3d4e5f60718");
        assert_eq!(r["aws_vpc.main"].resource_type, "aws_vpc");
        assert_eq!(
            r["module.net.aws_subnet.private[\"b\"]"].id,
            "subnet-0bbb2222"
        );
        let db = &r["module.db[\"primary\"].aws_db_instance.this"].attributes;
        assert_eq!(db["password"], SECRET_MARKER);
        assert_eq!(db["master_user_secret"][0]["secret_arn"], SECRET_MARKER);
        assert_eq!(db["master_user_secret"][0]["secret_status"], "active");
        assert_eq!(db["username"], "app");
        let text = format!("{:?}", d.resources);
        assert!(!text.contains("hunter2"), "{text}");
        // The deposed object of web[1] is not declared, and says so.
        assert_eq!(
            d.warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
            ["deposed_object_skipped"]
        );
        assert!(!d.resources.iter().any(|r| r.id == "i-0aaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn a_cloudformation_stack_declares_properties_by_physical_id_with_refs_resolved() {
        let d = parse(
            DeclaredFormat::CloudFormation,
            &fixture("cloudformation.json"),
        )
        .expect("reads");
        let r = by_address(&d);
        let bucket = r["AppBucket"];
        assert_eq!(bucket.id, "orders-prod-assets");
        assert_eq!(bucket.resource_type, "AWS::S3::Bucket");
        assert_eq!(bucket.attributes["BucketName"], "orders-prod-assets");
        assert_eq!(bucket.attributes["Tags"][0]["Value"], "prod");
        let policy = &r["BucketPolicy"].attributes;
        assert_eq!(policy["Bucket"], "orders-prod-assets");
        // A Sub of a resource resolves as its Ref would; one of a pseudo
        // parameter is kept, as is ImportValue: both with warnings.
        assert_eq!(
            policy["PolicyDocument"]["Statement"][0]["Resource"],
            "arn:aws:s3:::orders-prod-assets/*"
        );
        assert_eq!(
            r["Queue"].attributes["QueueName"],
            json!({"Fn::Sub": "${AWS::StackName}-orders"})
        );
        assert_eq!(
            r["WebSecurityGroup"].attributes["SecurityGroupIngress"][0]["CidrIp"],
            "10.0.0.0/8"
        );
        assert_eq!(
            r["WebSecurityGroup"].attributes["VpcId"],
            json!({"Fn::ImportValue": "network-VpcId"})
        );
        let warned: BTreeSet<&str> = d
            .warnings
            .iter()
            .filter(|w| w.code == "intrinsic_unresolved")
            .map(|w| w.address.as_str())
            .collect();
        assert_eq!(warned, BTreeSet::from(["Queue", "WebSecurityGroup"]));
        assert_eq!(d.resources.len(), 4);
    }

    #[test]
    fn a_resources_document_is_taken_as_it_is() {
        let d = parse(DeclaredFormat::Resources, &fixture("resources.json")).expect("reads");
        assert_eq!(d.resources.len(), 2);
        let ns = d
            .resources
            .iter()
            .find(|r| r.resource_type == "kubernetes_namespace")
            .expect("namespace");
        assert_eq!(
            ns.address, "kubernetes_namespace.payments",
            "named by type and id"
        );
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn bad_documents_are_refused_with_their_first_problem() {
        let mut v3 = fixture("terraform.tfstate");
        v3["version"] = json!(3);
        assert!(refused(DeclaredFormat::TerraformState, &v3).contains("format version 3"));
        assert!(
            refused(DeclaredFormat::TerraformState, &json!("{\"version\": 4"))
                .contains("JSON object")
        );
        let mut corrupt = fixture("terraform.tfstate");
        corrupt["resources"][1]["instances"] = json!({"attributes": {}});
        assert!(
            refused(DeclaredFormat::TerraformState, &corrupt)
                .contains("resources[1]: `instances` must be an array")
        );
        let mut bad_step = fixture("terraform.tfstate");
        bad_step["resources"][4]["instances"][0]["sensitive_attributes"] =
            json!([[{"type": "splat", "value": "x"}]]);
        assert!(
            refused(DeclaredFormat::TerraformState, &bad_step).contains("not get_attr or index")
        );

        // A cycle of Refs between resources, as CloudFormation refuses it.
        let mut cycle = fixture("cloudformation.json");
        cycle["template"]["Resources"]["AppBucket"]["Properties"]["LoggingConfiguration"] =
            json!({"DestinationBucketName": {"Ref": "BucketPolicy"}});
        let message = refused(DeclaredFormat::CloudFormation, &cycle);
        assert!(message.contains("cycle"), "{message}");
        assert!(
            message.contains("AppBucket") && message.contains("BucketPolicy"),
            "{message}"
        );
        let mut unknown = fixture("cloudformation.json");
        unknown["resources"][0]["LogicalResourceId"] = json!("Nope");
        assert!(refused(DeclaredFormat::CloudFormation, &unknown).contains("no resource \"Nope\""));

        // 10,000 resources with one id.
        let same: Vec<Value> = (0..10_000)
            .map(|i| json!({"type": "aws_s3_bucket", "id": "logs", "name": format!("b{i}")}))
            .collect();
        let message = refused(DeclaredFormat::Resources, &json!({"resources": same}));
        assert!(
            message.contains("declared twice, by b0 and by b1"),
            "{message}"
        );
    }
}
