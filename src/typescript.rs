//! The frontend's TypeScript types for the API and the WebSocket events are generated from the
//! Rust types (`ts-rs`) into `frontend/src/api/generated/`, so the two sides cannot drift: the
//! test below fails when a checked-in file differs from what the Rust types generate. After
//! changing a type, regenerate with `make types` (= `UPDATE_TYPES=1 cargo test --lib typescript`).

use std::path::{Path, PathBuf};

use ts_rs::TS;

/// Where the generated files live in the repository.
pub fn generated_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("frontend/src/api/generated")
}

/// Writes every exported type (and what it refers to) under `dir`. 64-bit integers are plain
/// `number`s in JSON (every id and amount of ours fits in 2^53).
pub fn export_all(dir: &Path) -> Result<(), ts_rs::ExportError> {
    let cfg = ts_rs::Config::new().with_out_dir(dir).with_large_int("number");
    use crate::actors::chat::ChatView;
    use crate::actors::events::Event;
    use crate::actors::session::Accepted;
    use crate::db::types::{GenerationStatus, PaymentStatus, SubscriptionStatus};
    use crate::domain::errors::ErrorCode;
    use crate::http::chat::TurnView;
    use crate::http::gallery::GenerationPage;
    use crate::http::legal::{ConsentView, ConsentsView, ContactView, LegalView};
    use crate::http::me::{LedgerPage, MeResponse};
    use crate::http::payments::{PaymentView, PlansView};
    use crate::http::tryon::TryOnCategory;
    Event::export_all(&cfg)?;
    ErrorCode::export_all(&cfg)?;
    Accepted::export_all(&cfg)?;
    ChatView::export_all(&cfg)?;
    TurnView::export_all(&cfg)?;
    GenerationPage::export_all(&cfg)?;
    GenerationStatus::export_all(&cfg)?;
    PaymentStatus::export_all(&cfg)?;
    SubscriptionStatus::export_all(&cfg)?;
    MeResponse::export_all(&cfg)?;
    LedgerPage::export_all(&cfg)?;
    PlansView::export_all(&cfg)?;
    PaymentView::export_all(&cfg)?;
    TryOnCategory::export_all(&cfg)?;
    LegalView::export_all(&cfg)?;
    ConsentView::export_all(&cfg)?;
    ConsentsView::export_all(&cfg)?;
    ContactView::export_all(&cfg)?;
    crate::db::promo::PromoRow::export_all(&cfg)?;
    crate::db::stats::Figures::export_all(&cfg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "ts"))
                    .map(|e| {
                        let name = e.file_name().to_string_lossy().to_string();
                        (name, std::fs::read_to_string(e.path()).unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    #[test]
    fn generated_typescript_matches_the_rust_types() {
        if std::env::var("UPDATE_TYPES").is_ok_and(|v| v == "1") {
            let dir = generated_dir();
            if dir.exists() {
                for (name, _) in files(&dir) {
                    std::fs::remove_file(dir.join(name)).expect("remove an old generated file");
                }
            }
            export_all(&dir).expect("types export");
            return;
        }
        let fresh = tempfile::tempdir().expect("a temp dir");
        export_all(fresh.path()).expect("types export");
        let expected = files(fresh.path());
        let checked_in = files(&generated_dir());
        let names = |list: &[(String, String)]| list.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&checked_in),
            names(&expected),
            "frontend/src/api/generated has other files than the Rust types generate: run `make types`"
        );
        for ((name, have), (_, want)) in checked_in.iter().zip(&expected) {
            assert_eq!(have, want, "frontend/src/api/generated/{name} is out of date: run `make types`");
        }
    }
}
