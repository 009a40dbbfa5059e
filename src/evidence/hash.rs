//! The one hash: SHA-256 over RFC 8785 (JCS) canonical JSON, as lowercase hex.
//!
//! The canonical form is written straight from a `serde_json::Value`. The JCS
//! crates (serde_jcs, canon-json, serde_json_canonicalizer) are serde
//! formatters: they cannot see an object's keys before its values, so they
//! buffer every member of every object, copy nested values once per level and
//! sort each object again. On the corpus that is ~110 MB/s against ~1 GB/s
//! here, and it was half of an ingestion's CPU (BENCHMARKS.md). A `Value`'s
//! keys are known up front, so this writer only has to put them in UTF-16
//! order, which their stored order already is unless a key holds a character
//! at or above U+E000. Numbers are formatted by `ryu-js` (ECMAScript
//! `Number.prototype.toString`, as RFC 8785 requires) and strings escaped by
//! serde_json, as serde_jcs does; a test holds the output byte for byte to
//! serde_jcs's over the corpus and over generated documents.
//!
//! The same writer, with jsonb's key order and serde_json's numbers, writes
//! the documents sent to PostgreSQL (`db::jsonb_text`).

use std::cmp::Ordering;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// RFC 8785 canonical bytes: keys in UTF-16 order, no insignificant
/// whitespace, every number as an IEEE 754 double in ECMAScript form.
/// Independent of serde_json's map order.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    json_bytes(value, JsonForm::Canonical)
}

/// Scratch space kept by each thread between documents, up to this size.
const SCRATCH_KEPT: usize = 1 << 20;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Compact JSON text of `value` in the given form, in a vector of its size.
/// It is written into the thread's scratch space and copied out once: a
/// vector grown from small while writing a document of a few KB was
/// reallocated and copied five or six times (a tenth of an ingestion's
/// normalizing time).
pub fn json_bytes(value: &Value, form: JsonForm) -> Vec<u8> {
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        write_json(scratch, value, form);
        let out = scratch.as_slice().to_vec();
        if scratch.capacity() > SCRATCH_KEPT {
            *scratch = Vec::new();
        }
        out
    })
}

/// How `write_json` orders an object's members and writes its numbers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum JsonForm {
    /// RFC 8785: members in UTF-16 order of their keys, numbers as
    /// ECMAScript doubles.
    Canonical,
    /// Members in jsonb's order (`db::jsonb_key_order`), numbers as
    /// serde_json writes them (integers stay exact): see `db::jsonb_text`.
    JsonbOrder,
}

impl JsonForm {
    fn key_order(self, a: &str, b: &str) -> Ordering {
        match self {
            JsonForm::Canonical => utf16_order(a, b),
            JsonForm::JsonbOrder => crate::db::jsonb_key_order(a, b),
        }
    }
}

/// Compact JSON text of `value` in the given form.
pub fn write_json(out: &mut Vec<u8>, value: &Value, form: JsonForm) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) if form == JsonForm::JsonbOrder => {
            // Writing a number into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, n);
        }
        Value::Number(n) => match n.as_f64().filter(|f| f.is_finite()) {
            Some(f) => out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes()),
            // A `Value` holds no NaN or infinity; JSON has no form for them.
            None => out.extend_from_slice(b"null"),
        },
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, item, form);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map, form),
    }
}

/// A JSON string as serde_json writes it (RFC 8785 §3.2.2.2 escapes the
/// same characters the same way). Most strings of a policy need no escape:
/// those are copied whole, after a scan the compiler vectorizes, rather than
/// looked up byte by byte and written in fragments (serde_json's escaping was
/// the largest part of writing a document).
fn write_string(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Whether JSON needs an escape for any of these bytes: a control character,
/// a quote or a backslash.
fn needs_escape(bytes: &[u8]) -> bool {
    let escaped = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
    let mut chunks = bytes.chunks_exact(16);
    // No early exit inside a chunk, so that each is a few vector compares.
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |any, &b| any | escaped(b)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| escaped(b))
}

/// RFC 8785 §3.2.3: members sorted by their names as UTF-16 code units.
fn utf16_order(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>, form: JsonForm) {
    let member = |out: &mut Vec<u8>, i: usize, key: &str, value: &Value| {
        out.push(if i == 0 { b'{' } else { b',' });
        write_string(out, key);
        out.push(b':');
        write_json(out, value, form);
    };
    if map.is_empty() {
        out.extend_from_slice(b"{}");
        return;
    }
    // serde_json's map iterates in UTF-8 byte order, which is UTF-16 order
    // unless a key holds a character at or above U+E000 (or a crate turned
    // on `preserve_order`): for the canonical form, only then is there
    // anything to sort.
    // For jsonb's order (length, then bytes), keys in byte order, as
    // serde_json's map has them, need only ordering by length, ties kept
    // where they are: no second comparison of their bytes (the full
    // comparison was half of writing a document in this form).
    let byte_order = form == JsonForm::JsonbOrder && map.keys().is_sorted();
    let in_order = match form {
        JsonForm::Canonical => map
            .keys()
            .is_sorted_by(|a, b| utf16_order(a, b) == Ordering::Less),
        JsonForm::JsonbOrder => byte_order && map.keys().is_sorted_by_key(|k| k.len()),
    };
    if in_order {
        for (i, (key, value)) in map.iter().enumerate() {
            member(out, i, key, value);
        }
        out.push(b'}');
        return;
    }
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    if byte_order {
        members.sort_by_key(|(key, _)| key.len());
    } else {
        members.sort_unstable_by(|a, b| form.key_order(a.0, b.0));
    }
    for (i, (key, value)) in members.into_iter().enumerate() {
        member(out, i, key, value);
    }
    out.push(b'}');
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn hash_value(value: &Value) -> String {
    sha256_hex(&canonical_bytes(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": [1, 2, {"y": true, "x": null}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":[1,2,{"x":null,"y":true}],"b":1}"#).unwrap();
        assert_eq!(
            canonical_bytes(&a),
            br#"{"a":[1,2,{"x":null,"y":true}],"b":1}"#
        );
        assert_eq!(hash_value(&a), hash_value(&b));
        assert_ne!(hash_value(&a), hash_value(&json!({"a": [2, 1], "b": 1})));
        assert_eq!(hash_value(&a).len(), 64);
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        // Each character JSON escapes, and DEL, which it does not, at places
        // inside and after the 16-byte blocks the scan reads.
        let text = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";
        let mut cases = vec![String::new(), "é €😀".to_owned(), text.to_owned()];
        for byte in (0u8..0x20).chain([b'"', b'\\', 0x7f]) {
            for at in [0, 5, 15, 16, 17, 31, 32, 40] {
                cases.push(format!("{}{}tail é", &text[..at], char::from(byte)));
            }
        }
        for case in cases {
            let mut out = Vec::new();
            write_string(&mut out, &case);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&case).unwrap(),
                "{case:?}"
            );
        }
    }

    #[test]
    fn rfc_8785_numbers_strings_and_utf16_key_order() {
        // U+1F600 is the surrogate pair D83D DE00, which sorts before U+E000
        // in UTF-16 but after it in UTF-8.
        let value: Value = serde_json::from_str(
            r#"{"\ue000":2,"\ud83d\ude00":1,"\u20ac":3,"é":null,"a\u0001\"\\/\n\u007f":1e21,
                "b":[1.5,-0.0,1e-7,123456789012345678901,9007199254740993,0.1,4.50,100],"":{}}"#,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(canonical_bytes(&value)).unwrap(),
            "{\"\":{},\"a\\u0001\\\"\\\\/\\n\u{7f}\":1e+21,\
             \"b\":[1.5,0,1e-7,123456789012345680000,9007199254740992,0.1,4.5,100],\
             \"é\":null,\"€\":3,\"😀\":1,\"\u{e000}\":2}"
        );
    }
}
