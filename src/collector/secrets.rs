//! Sealing credentials at rest: AES-256-GCM (the `aes-gcm` crate) under the
//! server's key from `DRIFT_SECRET_KEY` (32 bytes, base64) or
//! `--secret-key-file`. Each sealed value has a fresh 96-bit nonce and is
//! bound to its tenant by the associated data, so a sealed credential
//! copied onto another tenant's row does not open.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The format tag of a sealed value: `v1:` + base64(nonce || ciphertext).
const SEALED_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

/// The server's key. Its bytes are never printed (`Debug` says nothing).
#[derive(Clone)]
pub struct SecretKey(Key<Aes256Gcm>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the secret key is not base64: {0}")]
    NotBase64(String),
    #[error("the secret key is {0} bytes; it must be 32 (for example `openssl rand -base64 32`)")]
    WrongLength(usize),
}

impl SecretKey {
    /// From the base64 text of 32 bytes (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| KeyError::NotBase64(e.to_string()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| KeyError::WrongLength(b.len()))?;
        Ok(SecretKey(Key::<Aes256Gcm>::from(bytes)))
    }

    /// Seals `plaintext`, bound to `context` (for example the tenant id).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let cipher = Aes256Gcm::new(&self.0);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            // AES-GCM fails only past 64 GiB of plaintext.
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("{SEALED_PREFIX}{}", STANDARD.encode(out))
    }

    /// Opens what [`SecretKey::seal`] sealed under the same key and context;
    /// `None` for another key, another context or altered text.
    pub fn open(&self, context: &str, sealed: &str) -> Option<Vec<u8>> {
        let bytes = STANDARD.decode(sealed.strip_prefix(SEALED_PREFIX)?).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        Aes256Gcm::new(&self.0)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_base64(&STANDARD.encode([byte; 32])).expect("a key")
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let k = key(7);
        let sealed = k.seal("tenant:1", b"hunter2");
        assert!(sealed.starts_with("v1:") && !sealed.contains("hunter2"));
        assert_eq!(
            k.open("tenant:1", &sealed).as_deref(),
            Some(&b"hunter2"[..])
        );
        assert_eq!(k.open("tenant:2", &sealed), None, "bound to its tenant");
        assert_eq!(key(8).open("tenant:1", &sealed), None, "another key");
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(k.open("tenant:1", &altered), None, "altered text");
        assert_ne!(
            k.seal("tenant:1", b"hunter2"),
            sealed,
            "a fresh nonce each time"
        );
        assert_eq!(k.open("tenant:1", "v1:"), None);
        assert_eq!(k.open("tenant:1", "not sealed"), None);
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert_eq!(
            SecretKey::from_base64(&STANDARD.encode([1u8; 16])).unwrap_err(),
            KeyError::WrongLength(16)
        );
        assert!(matches!(
            SecretKey::from_base64("not base64!"),
            Err(KeyError::NotBase64(_))
        ));
        assert!(SecretKey::from_base64(&format!(" {}\n", STANDARD.encode([3u8; 32]))).is_ok());
        assert_eq!(format!("{:?}", key(9)), "SecretKey(..)");
    }
}
