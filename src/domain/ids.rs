//! Identifier newtypes, so a Telegram user id is never mixed up with another integer.

use serde::{Deserialize, Serialize};

/// A Telegram user id; our users' primary key. Can exceed 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A credit hold (reservation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HoldId(pub uuid::Uuid);

impl HoldId {
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

impl Default for HoldId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for HoldId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A UUID derived from a name (SHA-256, version 8): the same name always gives the same id, so
/// an operation retried after a crash or a duplicate delivery finds the row it made before.
pub fn derived_uuid(name: &str) -> uuid::Uuid {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8 (custom)
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    uuid::Uuid::from_bytes(bytes)
}

#[cfg(test)]
mod derived_tests {
    #[test]
    fn derived_ids_are_stable_and_distinct() {
        assert_eq!(super::derived_uuid("a"), super::derived_uuid("a"));
        assert_ne!(super::derived_uuid("a"), super::derived_uuid("b"));
        assert_eq!(super::derived_uuid("a").get_version_num(), 8);
    }
}
