//! `ErrorCode`: every error a user or client can meet, as one enum. Each code owns its HTTP
//! status (as a number: `domain/` knows no web framework; `http::ApiError` turns it into a
//! response) and its localised message (`i18n::error_message`). The wire form is the
//! snake_case name (`insufficient_credits`), which the frontend branches on; the generated
//! TypeScript union (`frontend/src/api/generated/ErrorCode.ts`) keeps both sides in step.
//!
//! Generation and assistant failure codes live here too: they reach the user inside job events,
//! gallery items and chat messages rather than as an HTTP answer, so their status is nominal.

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($(#[$meta:meta])* $variant:ident = ($name:literal, $status:literal),)*) => {
        /// A stable, client-visible error code (see the module doc).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
        #[serde(rename_all = "snake_case")]
        #[ts(export_to = "ErrorCode.ts")]
        pub enum ErrorCode {
            $($(#[$meta])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order (tests check each has both messages).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire name, e.g. `"insufficient_credits"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// The HTTP status an API answer with this code carries.
            pub fn http_status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }

            /// Parses a wire name (codes stored in the database, e.g. a generation's failure).
            pub fn parse(name: &str) -> Option<ErrorCode> {
                match name {
                    $($name => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    // --- requests
    InvalidBody = ("invalid_body", 400),
    ValidationFailed = ("validation_failed", 422),
    NotFound = ("not_found", 404),
    MethodNotAllowed = ("method_not_allowed", 405),
    Timeout = ("timeout", 408),
    TooLarge = ("too_large", 413),
    Conflict = ("conflict", 409),
    RateLimited = ("rate_limited", 429),
    Internal = ("internal", 500),
    /// Something the request needs (the database, a session) is briefly unavailable: retry.
    Unavailable = ("unavailable", 503),
    // --- login and access
    InitDataMalformed = ("init_data_malformed", 400),
    InitDataUserInvalid = ("init_data_user_invalid", 400),
    InitDataHashMissing = ("init_data_hash_missing", 401),
    InitDataHashInvalid = ("init_data_hash_invalid", 401),
    InitDataExpired = ("init_data_expired", 401),
    InitDataFromFuture = ("init_data_from_future", 401),
    Unauthorized = ("unauthorized", 401),
    TokenExpired = ("token_expired", 401),
    Forbidden = ("forbidden", 403),
    UserBlocked = ("user_blocked", 403),
    DemoDisabled = ("demo_disabled", 404),
    // --- credits and limits
    InsufficientCredits = ("insufficient_credits", 402),
    ChatBusy = ("chat_busy", 429),
    InFlightLimit = ("in_flight_limit", 429),
    TooManySockets = ("too_many_sockets", 429),
    QueueFull = ("queue_full", 503),
    // --- uploads and media
    FileMissing = ("file_missing", 400),
    UnsupportedType = ("unsupported_type", 415),
    TypeMismatch = ("type_mismatch", 415),
    TooManyPixels = ("too_many_pixels", 422),
    CorruptImage = ("corrupt_image", 422),
    /// The file ends before the picture does (a JPEG cut in its scan): refused, nothing charged.
    DecodeFailed = ("decode_failed", 422),
    /// The photo's shorter side is below `storage.min_photo_side` (quality check, issue 16).
    TooSmall = ("too_small", 422),
    /// The photo is too dark (or too washed out) to see the person or the item.
    TooDark = ("too_dark", 422),
    /// The photo is too blurry (variance of the Laplacian below the refusal threshold).
    TooBlurry = ("too_blurry", 422),
    QuotaExceeded = ("quota_exceeded", 409),
    UploadNotFound = ("upload_not_found", 404),
    LinkExpired = ("link_expired", 410),
    // --- try-on, editor, gallery
    InvalidCategory = ("invalid_category", 400),
    TooManyGarments = ("too_many_garments", 400),
    NotFinished = ("not_finished", 409),
    NoImage = ("no_image", 409),
    ImageGone = ("image_gone", 409),
    /// The task is at kie.ai already: it runs to its end (and is paid for only if it succeeds).
    NotCancellable = ("not_cancellable", 409),
    // --- payments
    NotAvailable = ("not_available", 409),
    PaymentUnavailable = ("payment_unavailable", 503),
    /// The user has not accepted the document this needs (`privacy` before the first upload,
    /// `autorenew` before the first subscription): `POST /api/me/consents` first.
    ConsentRequired = ("consent_required", 403),
    /// A rouble payment needs a contact for its receipt: `PUT /api/me/contact` first.
    ContactRequired = ("contact_required", 409),
    /// Rouble sales are paused: the seller's НПД yearly income cap is reached.
    RubSalesPaused = ("rub_sales_paused", 409),
    // --- promo codes
    PromoNotFound = ("promo_not_found", 404),
    PromoExpired = ("promo_expired", 410),
    PromoUsedUp = ("promo_used_up", 409),
    PromoAlreadyUsed = ("promo_already_used", 409),
    // --- generation failures (credits always returned)
    GenerationFailed = ("generation_failed", 502),
    ContentRejected = ("content_rejected", 422),
    ProviderTimeout = ("provider_timeout", 504),
    ProviderUnknown = ("provider_unknown", 502),
    ProviderDown = ("provider_down", 502),
    NoResult = ("no_result", 502),
    UnchangedResult = ("unchanged_result", 502),
    JobInternal = ("job_internal", 500),
    /// The user cancelled the job while it was still queued.
    Canceled = ("canceled", 409),
    // --- assistant failures (no credit charged)
    AssistantModerated = ("assistant_moderated", 422),
    AssistantBadReply = ("assistant_bad_reply", 502),
    AssistantUnavailable = ("assistant_unavailable", 503),
}

impl ErrorCode {
    /// The message shown to the user, in `lang`.
    pub fn message(self, lang: super::i18n::Lang) -> &'static str {
        super::i18n::error_message(self, lang)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::i18n::Lang;

    #[test]
    fn wire_names_round_trip_through_serde_and_parse() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()), "serde and as_str agree for {code:?}");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }

    #[test]
    fn every_code_has_a_message_in_both_languages() {
        for &code in ErrorCode::ALL {
            let (ru, en) = (code.message(Lang::Ru), code.message(Lang::En));
            assert!(!ru.is_empty() && !en.is_empty(), "{code}");
            assert_ne!(ru, en, "{code} is translated");
        }
    }

    #[test]
    fn statuses_are_http_statuses() {
        for &code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
    }
}
