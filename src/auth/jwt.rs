//! Session tokens: HS256 JWTs with the algorithm pinned, issuer and audience checked and a
//! short expiry. The secret (≥ 32 bytes) comes from `JWT_SECRET`.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::domain::ids::UserId;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Telegram user id, as a string (RFC 7519 `sub`).
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// The user's token version at issue (`users.token_version`); tokens from before a bump
    /// (block, delete-my-data) are refused. Absent in older tokens: 0.
    #[serde(default)]
    pub ver: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

/// Signs and verifies tokens; cheap to clone (keys are shared).
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

impl JwtKeys {
    pub fn from_settings(settings: &Settings) -> Self {
        let secret = settings.secrets.jwt_secret.expose_secret().as_bytes();
        let auth = &settings.file.auth;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[&auth.jwt_issuer]);
        validation.set_audience(&[&auth.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: auth.jwt_issuer.clone(),
            audience: auth.jwt_audience.clone(),
            ttl_secs: auth.jwt_ttl_secs as i64,
        }
    }

    /// A token for `user` at token version `ver`, valid from `now_unix` for the configured
    /// lifetime.
    pub fn issue(&self, user: UserId, now_unix: i64, ver: i32) -> (String, Claims) {
        let claims = Claims {
            sub: user.0.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now_unix,
            exp: now_unix + self.ttl_secs,
            ver,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail");
        (token, claims)
    }

    /// Verifies the signature (HS256 only), expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<(UserId, Claims), JwtError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => JwtError::Expired,
                _ => JwtError::Invalid,
            })?;
        let id: i64 = data.claims.sub.parse().map_err(|_| JwtError::Invalid)?;
        Ok((UserId(id), data.claims))
    }
}
