//! The one hash: SHA-256 over RFC 8785 (JCS) canonical JSON, as lowercase hex.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// RFC 8785 canonical bytes: sorted keys, no insignificant whitespace,
/// canonical number and string forms. Independent of serde_json's map order.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    // Serializing a `Value` cannot fail: every key is a string and every
    // number is finite by construction.
    serde_jcs::to_vec(value).unwrap_or_default()
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
}
