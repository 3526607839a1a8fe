//! Fuzz targets as long-running property tests (issue 15): every parser that reads what a
//! stranger sends — Telegram initData, uploaded images, YooKassa notifications and payment
//! objects, Telegram updates (Stars payments), the assistant's reply — is fed arbitrary and
//! mutated input and must answer with a value or a clean refusal, never a panic.
//!
//! `cargo nextest run --test fuzz` runs a short smoke (part of `make test`);
//! `make fuzz` runs each target for `FUZZ_CASES` cases (default 200,000). A failure is written to
//! `tests/fuzz.proptest-regressions` and replayed first on every later run: a crash, once found,
//! is a regression test.

use proptest::prelude::*;
use serde_json::{Value, json};

use primerka::auth::init_data;
use primerka::domain::assistant;
use primerka::domain::images::{self, ImageFormat, ImageLimits};

/// Cases per target: `FUZZ_CASES`, or a smoke run's 256.
fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: cases(), max_shrink_iters: 2_000, ..ProptestConfig::default() }
}

const SECRET_TOKEN: &str = "123456:fuzz-bot-token";
const LIMITS: ImageLimits = ImageLimits { max_side: 2048, max_pixels: 2_000_000, max_stored_side: 1024 };

/// Text with the characters that break parsers: separators, escapes, NUL, surrogate escapes,
/// direction marks, and long runs.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z=&%{}\":,0-9\\\\]{0,200}",
        Just("\u{0}".to_string()),
        Just("\\ud800".to_string()),
        Just("\u{202e}\u{200f}".to_string()),
        (1usize..20_000).prop_map(|n| "%".repeat(n)),
    ]
}

/// Flips, inserts, deletes and truncates bytes of `seed`.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = seed.len();
    (prop::collection::vec((0..len.max(1), any::<u8>(), 0u8..4), 0..12), 0..=len).prop_map(move |(edits, cut)| {
        let mut bytes = seed.clone();
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = at % bytes.len();
            match kind {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                2 => {
                    bytes.remove(at);
                }
                _ => bytes[at] ^= 1 << (byte % 8),
            }
        }
        if cut < bytes.len() && cut % 3 == 0 {
            bytes.truncate(cut);
        }
        bytes
    })
}

fn seed_image(format: ImageFormat) -> Vec<u8> {
    let image = image::RgbImage::from_fn(48, 32, |x, y| image::Rgb([(x * 5) as u8, (y * 7) as u8, 99]));
    images::encode(&image::DynamicImage::ImageRgb8(image), format).expect("encodes")
}

fn signed_init_data(user: &Value) -> String {
    init_data::sign_for_user(user, 1_700_000_000, &init_data::secret_key(SECRET_TOKEN))
}

proptest! {
    #![proptest_config(config())]

    /// initData: arbitrary query strings are refused cleanly.
    #[test]
    fn init_data_arbitrary(raw in hostile_text()) {
        let secret = init_data::secret_key(SECRET_TOKEN);
        let _ = init_data::validate(&raw, &secret, 1_700_000_100, 86_400, 60);
    }

    /// initData: a correctly signed user with hostile fields parses or is refused, and what is
    /// accepted is bounded.
    #[test]
    fn init_data_signed_hostile_user(
        first in hostile_text(),
        last in proptest::option::of(hostile_text()),
        username in proptest::option::of(hostile_text()),
        id in any::<i64>(),
    ) {
        let user = json!({"id": id, "first_name": first, "last_name": last, "username": username});
        let raw = signed_init_data(&user);
        let secret = init_data::secret_key(SECRET_TOKEN);
        if let Ok(data) = init_data::validate(&raw, &secret, 1_700_000_100, 86_400, 60) {
            prop_assert!(data.user.id > 0);
            prop_assert!(data.user.first_name.chars().count() <= 128);
            prop_assert!(!data.user.first_name.contains(char::from(0)), "NUL kept");
        }
    }

    /// initData: a signed string with bytes changed never validates as someone (the hash
    /// covers everything) and never panics.
    #[test]
    fn init_data_mutated(bytes in mutated(signed_init_data(&json!({"id": 42, "first_name": "A"})).into_bytes())) {
        let secret = init_data::secret_key(SECRET_TOKEN);
        let raw = String::from_utf8_lossy(&bytes).to_string();
        let original = signed_init_data(&json!({"id": 42, "first_name": "A"}));
        let result = init_data::validate(&raw, &secret, 1_700_000_100, 86_400, 60);
        if raw != original
            && let Ok(data) = result
        {
            // Only a change that decodes to the same signed fields (e.g. %41 for A) passes.
            prop_assert_eq!(data.user.id, 42);
        }
    }

    /// Uploads: arbitrary bytes under each declared type.
    #[test]
    fn upload_arbitrary(bytes in prop::collection::vec(any::<u8>(), 0..4096), png in any::<bool>()) {
        let declared = if png { "image/png" } else { "image/jpeg" };
        let _ = images::validate_upload(declared, &bytes, LIMITS);
    }

    /// Uploads: damaged real JPEG and PNG files are refused or give a bounded clean image.
    #[test]
    fn upload_mutated_jpeg(bytes in mutated(seed_image(ImageFormat::Jpeg))) {
        if let Ok(clean) = images::validate_upload("image/jpeg", &bytes, LIMITS) {
            prop_assert!(clean.width <= LIMITS.max_stored_side && clean.height <= LIMITS.max_stored_side);
            prop_assert!(images::jpeg_is_complete(&clean.bytes));
        }
    }

    #[test]
    fn upload_mutated_png(bytes in mutated(seed_image(ImageFormat::Png))) {
        if let Ok(clean) = images::validate_upload("image/png", &bytes, LIMITS) {
            prop_assert!(u64::from(clean.width) * u64::from(clean.height) <= LIMITS.max_pixels);
        }
    }

    /// YooKassa: notification bodies and payment objects.
    #[test]
    fn yookassa_notification(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            mutated(br#"{"type":"notification","event":"payment.succeeded","object":{"id":"2d8f-1","status":"succeeded","amount":{"value":"199.00","currency":"RUB"}}}"#.to_vec()),
        ]
    ) {
        let _ = primerka::http::webhooks::yookassa_notification(&body);
        if let Ok(value) = serde_json::from_slice::<Value>(&body) {
            let _ = primerka::clients::yookassa::YkPayment::from_json(value["object"].clone());
        }
    }

    #[test]
    fn yookassa_amounts(text in hostile_text()) {
        if let Some(kopecks) = primerka::domain::pricing::parse_rub(&text) {
            prop_assert_eq!(primerka::domain::pricing::parse_rub(&primerka::domain::pricing::format_rub(kopecks)), Some(kopecks));
        }
    }

    /// Telegram: updates (with a Stars payment) as bytes, mutated.
    #[test]
    fn telegram_update(
        body in mutated(br#"{"update_id":7,"message":{"message_id":1,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false},"successful_payment":{"currency":"XTR","total_amount":130,"invoice_payload":"6f1c2c52-6a43-4d2c-9b4e-1b1f0d5b8a11","telegram_payment_charge_id":"ch-1"}}}"#.to_vec())
    ) {
        if let Ok(update) = serde_json::from_slice::<primerka::bot::Update>(&body)
            && let Some(paid) = update.message.as_ref().and_then(|m| m.successful_payment.as_ref())
            && let Some(payment) = primerka::bot::stars_payment(5, paid)
        {
            prop_assert!(!payment.charge_id.is_empty());
        }
    }

    /// The assistant's reply: arbitrary text and damaged valid answers.
    #[test]
    fn chat_reply(
        content in prop_oneof![
            hostile_text(),
            mutated(br#"{"reply":"Ok","refused":false,"variants":[{"title":"A","description":"d","prompt":"p"},{"title":"B","description":"d","prompt":"p"},{"title":"C","prompt":"p"}]}"#.to_vec())
                .prop_map(|b| String::from_utf8_lossy(&b).to_string()),
        ],
        variants in 0usize..5,
    ) {
        if let Some(answer) = assistant::parse_answer(&content, variants) {
            prop_assert!(!answer.reply.is_empty());
            prop_assert_eq!(answer.refused, answer.variants.is_empty());
            if !answer.refused {
                prop_assert_eq!(answer.variants.len(), variants);
            }
        }
    }
}
