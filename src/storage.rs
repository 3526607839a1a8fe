//! Image storage: uploaded photos and generation results under random keys, through
//! `object_store` (a local folder by default, an S3-compatible bucket when `storage.s3_bucket`
//! is set), served only through short-lived signed URLs (`GET /media/{key}?exp=&sig=`).
//!
//! Keys are built by this module (`uploads/<uuid>.jpg`, `results/<uuid>.png`); nothing from a
//! client ever becomes part of a path. A signature is HMAC-SHA-256 over `key` and the expiry,
//! keyed by `MEDIA_SIGNING_KEY` (see `.env.example`).

use std::path::Path as FsPath;
use std::sync::Arc;

use anyhow::Context;
use hmac::{Hmac, Mac};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

use crate::config::Settings;

type HmacSha256 = Hmac<Sha256>;

/// Where a key's bytes live and how links to them are signed.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// What the backend is, for logs and `/readyz`: `local:<dir>` or `s3:<bucket>`.
    describe: String,
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

pub use crate::domain::images::ImageFormat;

fn io_error(e: object_store::Error) -> std::io::Error {
    match e {
        object_store::Error::NotFound { .. } => std::io::Error::new(std::io::ErrorKind::NotFound, e),
        other => std::io::Error::other(other),
    }
}

impl Storage {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        describe: String,
        signing_key: SecretString,
        public_base_url: &str,
    ) -> Self {
        Storage { store, describe, signing_key, public_base_url: public_base_url.trim_end_matches('/').to_string() }
    }

    /// A local folder (created if missing) as the backend.
    pub async fn local(dir: &FsPath, signing_key: SecretString, public_base_url: &str) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating the storage folder {}", dir.display()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("opening the storage folder {}", dir.display()))?;
        Ok(Self::new(Arc::new(store), format!("local:{}", dir.display()), signing_key, public_base_url))
    }

    /// The backend the settings ask for: an S3-compatible bucket when `storage.s3_bucket` is
    /// set (credentials from `S3_ACCESS_KEY_ID` / `S3_SECRET_ACCESS_KEY`), else the local folder.
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let cfg = &settings.file.storage;
        let key = settings.secrets.media_signing_key.clone();
        if cfg.s3_bucket.trim().is_empty() {
            return Self::local(&cfg.local_dir, key, &settings.public_base_url).await;
        }
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(cfg.s3_bucket.trim())
            .with_region(cfg.s3_region.trim());
        if !cfg.s3_endpoint.trim().is_empty() {
            builder = builder
                .with_endpoint(cfg.s3_endpoint.trim())
                .with_allow_http(cfg.s3_endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(s3) = &settings.secrets.s3 {
            builder = builder
                .with_access_key_id(s3.access_key_id.expose_secret())
                .with_secret_access_key(s3.secret_access_key.expose_secret());
        }
        let store = builder
            .build()
            .context("configuring the S3 storage (storage.s3_*, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY)")?;
        Ok(Self::new(Arc::new(store), format!("s3:{}", cfg.s3_bucket.trim()), key, &settings.public_base_url))
    }

    /// `local:<dir>` or `s3:<bucket>`.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// A fresh random key in `folder` (`uploads`, `results`).
    pub fn new_key(folder: &str, format: ImageFormat) -> String {
        format!("{folder}/{}.{}", Uuid::new_v4().simple(), format.extension())
    }

    /// Only keys this module builds are valid: `<folder>/<32 hex>.<ext>`.
    pub fn is_valid_key(key: &str) -> bool {
        let Some((folder, file)) = key.split_once('/') else { return false };
        let Some((stem, ext)) = file.rsplit_once('.') else { return false };
        // `masters`: clean originals of watermarked results (only kie.ai gets links to them).
        matches!(folder, "uploads" | "results" | "masters")
            && stem.len() == 32
            && stem.bytes().all(|b| b.is_ascii_hexdigit())
            && matches!(ext, "jpg" | "png")
    }

    fn path_of(key: &str) -> std::io::Result<Path> {
        if !Self::is_valid_key(key) {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "invalid storage key"));
        }
        Ok(Path::from(key))
    }

    /// Writes atomically (the local backend writes a temporary file and renames it; S3 puts
    /// are atomic), so a reader never sees half an image.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = Self::path_of(key)?;
        self.store.put(&path, PutPayload::from(bytes.to_vec())).await.map(|_| ()).map_err(io_error)
    }

    pub async fn get(&self, key: &str) -> std::io::Result<Vec<u8>> {
        let path = Self::path_of(key)?;
        let object = self.store.get(&path).await.map_err(io_error)?;
        object.bytes().await.map(|b| b.to_vec()).map_err(io_error)
    }

    /// Whether the object is still stored (uploads expire; results can be deleted).
    pub async fn exists(&self, key: &str) -> std::io::Result<bool> {
        match self.store.head(&Self::path_of(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(io_error(e)),
        }
    }

    /// Deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> std::io::Result<()> {
        match self.store.delete(&Self::path_of(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_error(e)),
        }
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
        let memory = Arc::new(object_store::memory::InMemory::new());
        Storage::new(memory, "memory".into(), SecretString::from("k".repeat(32)), "http://x")
    }

    #[tokio::test]
    async fn objects_round_trip_and_deleting_a_missing_one_is_fine() {
        let s = storage();
        let key = Storage::new_key("uploads", ImageFormat::Jpeg);
        assert!(!s.exists(&key).await.unwrap());
        s.put(&key, b"bytes").await.unwrap();
        assert!(s.exists(&key).await.unwrap());
        assert_eq!(s.get(&key).await.unwrap(), b"bytes");
        s.delete(&key).await.unwrap();
        s.delete(&key).await.unwrap();
        assert_eq!(s.get(&key).await.unwrap_err().kind(), std::io::ErrorKind::NotFound);
        assert_eq!(s.put("../x.jpg", b"").await.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn the_local_backend_keeps_keys_as_files_under_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let s =
            Storage::local(&dir.path().join("nested"), SecretString::from("k".repeat(32)), "http://x").await.unwrap();
        let key = Storage::new_key("results", ImageFormat::Png);
        s.put(&key, b"png").await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("nested").join(&key)).unwrap(), b"png");
        assert!(s.describe().starts_with("local:"));
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
