//! Telegram Mini App initData: first-party validation (HMAC-SHA-256 with the bot token) per
//! `contracts/telegram.md` §2, and signing (used by the demo login and the tests).

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::db::users::TelegramProfile;
use crate::domain::errors::ErrorCode;

type HmacSha256 = Hmac<Sha256>;

/// Why initData was refused. Each maps to a stable API error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitDataError {
    #[error("initData is not a valid query string or repeats a field")]
    Malformed,
    #[error("initData has no hash")]
    MissingHash,
    #[error("initData hash does not match")]
    InvalidHash,
    #[error("initData auth_date is missing or not a number")]
    BadAuthDate,
    #[error("initData is older than allowed")]
    Expired,
    #[error("initData auth_date is in the future")]
    FromFuture,
    #[error("initData user is missing or not valid JSON")]
    InvalidUser,
}

impl InitDataError {
    pub fn code(&self) -> ErrorCode {
        match self {
            InitDataError::Malformed | InitDataError::BadAuthDate => ErrorCode::InitDataMalformed,
            InitDataError::MissingHash => ErrorCode::InitDataHashMissing,
            InitDataError::InvalidHash => ErrorCode::InitDataHashInvalid,
            InitDataError::Expired => ErrorCode::InitDataExpired,
            InitDataError::FromFuture => ErrorCode::InitDataFromFuture,
            InitDataError::InvalidUser => ErrorCode::InitDataUserInvalid,
        }
    }
}

/// Validated initData.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitData {
    pub user: TelegramProfile,
    pub auth_date: i64,
    pub query_id: Option<String>,
    pub start_param: Option<String>,
}

#[derive(Deserialize)]
struct WebAppUser {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    first_name: String,
    last_name: Option<String>,
    username: Option<String>,
    language_code: Option<String>,
    #[serde(default)]
    is_premium: bool,
    #[serde(default)]
    allows_write_to_pm: bool,
    photo_url: Option<String>,
}

/// `secret_key = HMAC_SHA256(key = "WebAppData", message = bot_token)`. Derive it once per
/// bot token and keep it; validation then costs one HMAC.
pub fn secret_key(bot_token: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(b"WebAppData").expect("HMAC-SHA-256 accepts any key length");
    mac.update(bot_token.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Checks the signature and freshness of `raw` and parses the user.
///
/// `max_age_secs` bounds `now - auth_date`; `future_skew_secs` tolerates a client clock
/// slightly ahead of ours. The hash is compared in constant time (`verify_slice`).
pub fn validate(
    raw: &str,
    secret: &[u8; 32],
    now_unix: i64,
    max_age_secs: i64,
    future_skew_secs: i64,
) -> Result<InitData, InitDataError> {
    let pairs = verify(raw, secret, now_unix, max_age_secs, future_skew_secs)?;
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let auth_date: i64 = field("auth_date").and_then(|v| v.parse().ok()).ok_or(InitDataError::BadAuthDate)?;
    let user: WebAppUser =
        field("user").and_then(|json| serde_json::from_str(json).ok()).ok_or(InitDataError::InvalidUser)?;
    if user.id <= 0 || user.is_bot {
        return Err(InitDataError::InvalidUser);
    }
    Ok(InitData {
        user: TelegramProfile {
            id: user.id,
            first_name: truncate(&user.first_name, 128),
            last_name: user.last_name.map(|s| truncate(&s, 128)),
            username: user.username.map(|s| truncate(&s, 64)),
            language_code: user.language_code.map(|s| truncate(&s, 16)),
            is_premium: user.is_premium,
            photo_url: user.photo_url.filter(|u| u.starts_with("https://")).map(|s| truncate(&s, 512)),
            allows_write_to_pm: user.allows_write_to_pm,
        },
        auth_date,
        query_id: field("query_id").map(str::to_string),
        start_param: field("start_param").map(str::to_string),
    })
}

/// The signature and freshness checks alone; returns the decoded fields (without `hash`).
/// Every field but `hash` is signed, `signature` included (contracts/telegram.md §2).
pub fn verify(
    raw: &str,
    secret: &[u8; 32],
    now_unix: i64,
    max_age_secs: i64,
    future_skew_secs: i64,
) -> Result<Vec<(String, String)>, InitDataError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(InitDataError::MissingHash);
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut hash: Option<String> = None;
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if key.is_empty() {
            return Err(InitDataError::Malformed);
        }
        if key == "hash" {
            if hash.is_some() {
                return Err(InitDataError::Malformed);
            }
            hash = Some(value.into_owned());
            continue;
        }
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(InitDataError::Malformed);
        }
        pairs.push((key.into_owned(), value.into_owned()));
    }
    let hash = hash.filter(|h| !h.is_empty()).ok_or(InitDataError::MissingHash)?;
    let hash_bytes = hex::decode(hash.to_ascii_lowercase()).map_err(|_| InitDataError::InvalidHash)?;
    if hash_bytes.len() != 32 {
        return Err(InitDataError::InvalidHash);
    }

    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC-SHA-256 accepts any key length");
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            mac.update(b"\n");
        }
        mac.update(key.as_bytes());
        mac.update(b"=");
        mac.update(value.as_bytes());
    }
    mac.verify_slice(&hash_bytes).map_err(|_| InitDataError::InvalidHash)?;

    let auth_date: i64 = pairs
        .iter()
        .find(|(k, _)| k == "auth_date")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or(InitDataError::BadAuthDate)?;
    if auth_date > now_unix.saturating_add(future_skew_secs) {
        return Err(InitDataError::FromFuture);
    }
    if now_unix.saturating_sub(auth_date) > max_age_secs {
        return Err(InitDataError::Expired);
    }
    Ok(pairs)
}

/// Names come from Telegram but are the user's own text: cleaned of NUL, control and direction
/// characters (PostgreSQL refuses NUL; the others can make a shown name lie) and cut to a bound.
fn truncate(s: &str, max_chars: usize) -> String {
    crate::domain::text::clip(s, max_chars)
}

/// Builds a correctly signed initData string for `fields` (the demo login and tests do what
/// Telegram does). `fields` must not contain `hash`.
pub fn sign(fields: &[(&str, String)], secret: &[u8; 32]) -> String {
    let mut sorted: Vec<&(&str, String)> = fields.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let data_check_string = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n");
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC-SHA-256 accepts any key length");
    mac.update(data_check_string.as_bytes());
    let hash = hex::encode(mac.finalize().into_bytes());
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        out.append_pair(k, v);
    }
    out.append_pair("hash", &hash);
    out.finish()
}

/// initData for a user, as Telegram would send it at `auth_date`.
pub fn sign_for_user(user_json: &serde_json::Value, auth_date: i64, secret: &[u8; 32]) -> String {
    sign(
        &[
            ("auth_date", auth_date.to_string()),
            ("chat_type", "private".to_string()),
            ("query_id", format!("AAH{}", auth_date)),
            ("user", user_json.to_string()),
        ],
        secret,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8";

    #[test]
    fn secret_key_matches_the_published_vectors() {
        assert_eq!(
            hex::encode(secret_key("7342037359:AAFZehRPBRs8Seg40oDjTMIW8uTGPuW1zfQ")),
            "c0881d6d547967540dcb06d7378a2c2b2c79a8f915ae70a4a37a8a04de0da32b"
        );
        assert_eq!(
            hex::encode(secret_key("my-secret-token")),
            "fe37f490481d351837ed49f3b369c886c61013d6d036656fc3c9c92e163e3477"
        );
    }

    #[test]
    fn the_documented_example_validates_without_expiry() {
        let raw = "query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%7D&auth_date=1662771648&hash=c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2";
        let data = validate(raw, &secret_key(TOKEN), 1662771648, i64::MAX / 2, 60).expect("valid");
        assert_eq!(data.user.id, 279058397);
        assert_eq!(data.user.username.as_deref(), Some("vdkfrost"));
        assert!(data.user.is_premium);
        // The same data is stale against a 24 h window today.
        assert_eq!(validate(raw, &secret_key(TOKEN), 1662771648 + 86401, 86400, 60), Err(InitDataError::Expired));
        // Another bot's token.
        assert_eq!(validate(raw, &secret_key("123:other"), 1662771648, 86400, 60), Err(InitDataError::InvalidHash));
    }

    #[test]
    fn signing_round_trips_and_tampering_is_caught() {
        let secret = secret_key("42:test-token");
        let raw = sign_for_user(
            &serde_json::json!({"id": 7, "first_name": "Аня", "language_code": "ru"}),
            1_700_000_000,
            &secret,
        );
        let ok = validate(&raw, &secret, 1_700_000_100, 86400, 60).expect("valid");
        assert_eq!(ok.user.first_name, "Аня");
        let nul = sign_for_user(
            &serde_json::json!({"id": 8, "first_name": "A\u{0000}\u{202e}B", "last_name": "\u{0000}"}),
            1_700_000_000,
            &secret,
        );
        let cleaned = validate(&nul, &secret, 1_700_000_100, 86_400, 60).expect("valid");
        assert_eq!(cleaned.user.first_name, "AB", "NUL and direction marks are cleaned away");
        assert_eq!(cleaned.user.last_name.as_deref(), Some(""));
        let tampered = raw.replace("%22id%22%3A7", "%22id%22%3A8");
        assert_ne!(tampered, raw);
        assert_eq!(validate(&tampered, &secret, 1_700_000_100, 86400, 60), Err(InitDataError::InvalidHash));
        let no_hash = raw.split("&hash=").next().unwrap_or_default().to_string();
        assert_eq!(validate(&no_hash, &secret, 1_700_000_100, 86400, 60), Err(InitDataError::MissingHash));
        assert_eq!(validate(&raw, &secret, 1_700_000_000 - 61, 86400, 60), Err(InitDataError::FromFuture));
        assert!(validate(&raw, &secret, 1_700_000_000 - 59, 86400, 60).is_ok(), "small skew tolerated");
        assert_eq!(validate("", &secret, 0, 1, 1), Err(InitDataError::MissingHash));
    }

    #[test]
    fn the_published_vectors_give_the_expected_outcome() {
        let raw = include_str!("../../tests/vectors/telegram_init_data.json");
        let vectors: Vec<serde_json::Value> = serde_json::from_str(raw).expect("vector file is JSON");
        let mut checked = 0;
        for v in vectors.iter().filter(|v| v["kind"] == "hmac") {
            let id = &v["id"];
            let (Some(init), Some(token), Some(expected)) =
                (v["init_data"].as_str(), v["bot_token"].as_str(), v["expected"].as_str())
            else {
                panic!("{id}: hmac vector without init_data/bot_token/expected");
            };
            let auth_date = form_urlencoded::parse(init.as_bytes())
                .find(|(k, _)| k == "auth_date")
                .and_then(|(_, v)| v.parse::<i64>().ok())
                .unwrap_or(0);
            // Vectors without a clock check the signature alone.
            let now = v["now_unix"].as_i64().unwrap_or(auth_date);
            let max_age = v["max_age_seconds"].as_i64().unwrap_or(i64::MAX / 4);
            let result = verify(init, &secret_key(token), now, max_age, 0);
            assert_eq!(result.is_ok(), v["accept"].as_bool().expect("accept flag"), "{id}: {result:?}");
            let outcome_errors = |name: &str| -> Vec<InitDataError> {
                match name {
                    "valid" => vec![],
                    "expired" => vec![InitDataError::Expired],
                    "invalid_hash" => vec![InitDataError::InvalidHash],
                    "missing_hash" => vec![InitDataError::MissingHash],
                    "malformed" => vec![InitDataError::Malformed],
                    "duplicate_key" => vec![InitDataError::Malformed],
                    "missing_auth_date" | "invalid_auth_date" => vec![InitDataError::BadAuthDate],
                    other => panic!("{id}: unknown expectation {other}"),
                }
            };
            let allowed: Vec<InitDataError> = match v["acceptable_outcomes"].as_array() {
                Some(list) => list.iter().filter_map(|o| o.as_str()).flat_map(outcome_errors).collect(),
                None => outcome_errors(expected),
            };
            if let Err(e) = &result {
                assert!(allowed.contains(e), "{id}: expected {expected}, got {e:?}");
            }
            checked += 1;
        }
        assert!(checked >= 60, "only {checked} vectors checked");
    }
}
