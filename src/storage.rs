//! Image storage: uploaded photos and generation results on the local disk under random keys,
//! served only through short-lived signed URLs (`GET /media/{key}?exp=&sig=`).
//!
//! Keys are built by this module (`uploads/<uuid>.jpg`, `results/<uuid>.png`); nothing from a
//! client ever becomes part of a path. A signature is HMAC-SHA-256 over `key` and the expiry,
//! keyed by `MEDIA_SIGNING_KEY` (see `.env.example`).

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Where a key's bytes live and how links to them are signed.
#[derive(Clone)]
pub struct Storage {
    dir: PathBuf,
    signing_key: SecretString,
    public_base_url: String,
}

/// Why a media link was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("bad signature")]
    BadSignature,
    #[error("the link expired")]
    Expired,
}

/// What a stored object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        match key.rsplit_once('.')?.1 {
            "jpg" => Some(ImageFormat::Jpeg),
            "png" => Some(ImageFormat::Png),
            _ => None,
        }
    }
}

impl Storage {
    pub fn new(dir: impl Into<PathBuf>, signing_key: SecretString, public_base_url: &str) -> Self {
        Storage { dir: dir.into(), signing_key, public_base_url: public_base_url.trim_end_matches('/').to_string() }
    }

    /// A fresh random key in `folder` (`uploads`, `results`).
    pub fn new_key(folder: &str, format: ImageFormat) -> String {
        format!("{folder}/{}.{}", Uuid::new_v4().simple(), format.extension())
    }

    /// Only keys this module builds are valid: `<folder>/<32 hex>.<ext>`.
    pub fn is_valid_key(key: &str) -> bool {
        let Some((folder, file)) = key.split_once('/') else { return false };
        let Some((stem, ext)) = file.rsplit_once('.') else { return false };
        matches!(folder, "uploads" | "results")
            && stem.len() == 32
            && stem.bytes().all(|b| b.is_ascii_hexdigit())
            && matches!(ext, "jpg" | "png")
    }

    fn path_of(&self, key: &str) -> std::io::Result<PathBuf> {
        if !Self::is_valid_key(key) {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "invalid storage key"));
        }
        Ok(self.dir.join(key))
    }

    /// Writes atomically (temporary file + rename), so a reader never sees half an image.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path_of(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = path.with_extension(format!("tmp-{}", Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await
    }

    pub async fn get(&self, key: &str) -> std::io::Result<Vec<u8>> {
        tokio::fs::read(self.path_of(key)?).await
    }

    /// Whether the object is still stored (uploads expire; results can be deleted).
    pub async fn exists(&self, key: &str) -> std::io::Result<bool> {
        tokio::fs::try_exists(self.path_of(key)?).await
    }

    /// Deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> std::io::Result<()> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn mac(&self, key: &str, exp: i64) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(self.signing_key.expose_secret().as_bytes()).expect("HMAC takes any key length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(exp.to_string().as_bytes());
        mac
    }

    fn signature(&self, key: &str, exp: i64) -> String {
        hex::encode(self.mac(key, exp).finalize().into_bytes())
    }

    /// `/media/<key>?exp=<unix>&sig=<hex>` relative to the app.
    pub fn signed_path(&self, key: &str, ttl_secs: u64, now: i64) -> String {
        let exp = now + ttl_secs as i64;
        format!("/media/{key}?exp={exp}&sig={}", self.signature(key, exp))
    }

    /// The same link, absolute (for the provider and for Telegram).
    pub fn signed_url(&self, key: &str, ttl_secs: u64, now: i64) -> String {
        format!("{}{}", self.public_base_url, self.signed_path(key, ttl_secs, now))
    }

    /// Checks a link: constant-time signature compare, then expiry.
    pub fn verify(&self, key: &str, exp: i64, sig: &str, now: i64) -> Result<(), LinkError> {
        let Ok(given) = hex::decode(sig) else { return Err(LinkError::BadSignature) };
        self.mac(key, exp).verify_slice(&given).map_err(|_| LinkError::BadSignature)?;
        if exp < now {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage() -> Storage {
        Storage::new("/tmp/unused", SecretString::from("k".repeat(32)), "http://x")
    }

    #[test]
    fn signed_links_verify_and_expire() {
        let s = storage();
        let key = Storage::new_key("results", ImageFormat::Png);
        let path = s.signed_path(&key, 60, 1000);
        let query = path.split_once('?').unwrap().1;
        let sig = query.split("sig=").nth(1).unwrap();
        assert_eq!(s.verify(&key, 1060, sig, 1000), Ok(()));
        assert_eq!(s.verify(&key, 1060, sig, 1061), Err(LinkError::Expired));
        assert_eq!(s.verify(&key, 1061, sig, 1000), Err(LinkError::BadSignature));
        let other = Storage::new_key("results", ImageFormat::Png);
        assert_eq!(s.verify(&other, 1060, sig, 1000), Err(LinkError::BadSignature));
        assert_eq!(s.verify(&key, 1060, "zz", 1000), Err(LinkError::BadSignature));
    }

    #[test]
    fn only_generated_keys_are_valid() {
        assert!(Storage::is_valid_key(&Storage::new_key("uploads", ImageFormat::Jpeg)));
        for bad in [
            "../etc/passwd",
            "uploads/../../x.jpg",
            "uploads/abc.jpg",
            "other/0123456789abcdef0123456789abcdef.jpg",
            "uploads/0123456789abcdef0123456789abcdef.exe",
        ] {
            assert!(!Storage::is_valid_key(bad), "{bad}");
        }
    }
}
