//! The shape of the code, checked (DESIGN §3, `src/http/CLAUDE.md`, `docs/ARCHITECTURE.md`).
//!
//! Each rule reads the source files under `src/` and fails with a sentence that teaches the
//! rule, naming the file and line that broke it. The rules are about imports and calls a file
//! makes, so a `use` inside a function or a fully qualified path counts just the same.

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file without its `#[cfg(test)]` module and without comments (a comment may
/// name what a file must not use).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        out.push((i + 1, code.to_string()));
    }
    out
}

/// Lines of the files in `files` that contain any of `needles`.
fn offenders(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for file in files {
        for (n, line) in code_lines(file) {
            if needles.iter().any(|needle| line.contains(needle)) {
                let shown = file.strip_prefix(root).unwrap_or(file).display();
                found.push(format!("  {shown}:{n}: {}", line.trim()));
            }
        }
    }
    found
}

fn under(dir: &str) -> Vec<PathBuf> {
    rust_files(&src().join(dir))
}

fn assert_none(found: Vec<String>, lesson: &str) {
    assert!(found.is_empty(), "{lesson}\n\nFound:\n{}\n", found.join("\n"));
}

#[test]
fn handlers_reach_no_provider_client() {
    let mut files = under("http");
    files.push(src().join("bot.rs"));
    assert_none(
        offenders(&files, &["crate::clients", "clients::", ".services", "Services"]),
        "HTTP handlers and the bot's update handler parse, authorise, send one message to an actor (or run a \
         plain read-only query) and shape the reply. Calling kie.ai, OpenRouter, YooKassa or Telegram is an \
         actor's work: send a message to the actor that owns it (SessionActor, GeneratorPool, PaymentActor, \
         Notifier) instead of reaching a provider client or the actors' `Services`.",
    );
}

#[test]
fn handlers_never_unwrap() {
    let mut files = under("http");
    files.push(src().join("bot.rs"));
    let found: Vec<String> = offenders(&files, &[".unwrap()", ".expect(", "panic!(", "unreachable!("])
        .into_iter()
        // Keying an HMAC cannot fail (any key length is accepted): not input-dependent.
        .filter(|line| !line.contains("new_from_slice") && !line.contains("NonZeroU32::new(v.max(1))"))
        .collect();
    assert_none(
        found,
        "A handler never unwraps: whatever a request carries (dates, numbers, ids, text) is parsed with `?`          into an `ApiError` (422 `validation_failed` with the field, 400 `invalid_body`), so no input can          panic a handler and drop the connection (the pentest's `to=+262142-12-31`).",
    );
}

#[test]
fn handlers_do_not_move_credits_themselves() {
    let mut files = under("http");
    files.push(src().join("bot.rs"));
    assert_none(
        offenders(
            &files,
            &[
                "credits::reserve",
                "credits::commit",
                "credits::release",
                "credits::apply_entry",
                "settle_succeeded",
                "settle_refund",
                "credit_writer",
                "chat::save",
                "generations::finish_",
                "users::set_blocked",
                "users::clear_personal_data",
            ],
        ),
        "Credits move and actor-owned rows change only inside the owning actor: reserve/commit/release are the \
         user's SessionActor's, grants and refunds the PaymentActor's, generations the GeneratorPool's, the chat \
         the SessionActor's, and so is a user's block and token version. A handler sends the actor a message.",
    );
}

#[test]
fn the_domain_is_pure() {
    assert_none(
        offenders(
            &under("domain"),
            &[
                "crate::db",
                "crate::storage",
                "crate::config",
                "crate::clients",
                "crate::actors",
                "crate::http",
                "sqlx",
                "axum",
                "reqwest",
                "tokio::",
                "std::fs",
            ],
        ),
        "`domain/` holds pure rules: no database, storage, configuration, web framework, provider or I/O. \
         Pass values in (the caller reads settings and rows) and move types that `domain/` needs into \
         `domain/` (as `ImageFormat` and `ProductKind` were).",
    );
}

#[test]
fn actors_know_no_web_framework() {
    assert_none(
        offenders(&under("actors"), &["axum", "crate::http"]),
        "Actors own workflows and state; HTTP belongs to `http/`. An actor answers with a typed result \
         (`SessionError`, `PaymentError`, `ErrorCode`) and the handler turns it into a response.",
    );
}

#[test]
fn production_code_never_imports_the_simulator() {
    let allowed = [src().join("startup.rs"), src().join("bin/primerka-sim.rs"), src().join("lib.rs")];
    let files: Vec<PathBuf> = rust_files(&src())
        .into_iter()
        .filter(|f| !f.starts_with(src().join("simulator")) && !allowed.contains(f))
        .collect();
    assert_none(
        offenders(&files, &["crate::simulator", "primerka::simulator", "simulator::"]),
        "Production code never depends on the provider simulator. Only the composition root \
         (`startup.rs`, which mounts it in demo mode) and the standalone `primerka-sim` binary may name it; \
         clients reach it through their configured base URLs like any provider.",
    );
}

#[test]
fn sql_lives_in_db() {
    let files: Vec<PathBuf> = rust_files(&src()).into_iter().filter(|f| !f.starts_with(src().join("db"))).collect();
    assert_none(
        offenders(&files, &["sqlx::query", "query_as(", "query_scalar("]),
        "Every SQL statement lives in `src/db/`: add a function there (taking `impl PgExecutor`) and call it.",
    );
}

#[test]
fn provider_http_lives_in_clients() {
    let files: Vec<PathBuf> = rust_files(&src())
        .into_iter()
        .filter(|f| {
            !f.starts_with(src().join("clients"))
                && !f.starts_with(src().join("simulator"))
                && !f.starts_with(src().join("bin"))
        })
        .collect();
    assert_none(
        offenders(&files, &["reqwest"]),
        "Provider HTTP calls live in `src/clients/` (one client per provider, built from settings); the rest \
         of the service calls those clients from actors.",
    );
}

/// The rules above can fail: a planted import is found, a commented one is not.
#[test]
fn the_checks_find_what_they_look_for() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("handler.rs");
    fs::write(
        &file,
        "use axum::Json;\n// crate::clients::kie is only named in this comment\nfn f() { crate::clients::kie::KieClient::x(); }\n#[cfg(test)]\nmod tests { use crate::clients; }\n",
    )
    .expect("write");
    let found = offenders(std::slice::from_ref(&file), &["crate::clients"]);
    assert_eq!(found.len(), 1, "one line of code names a client: {found:?}");
    assert!(found[0].contains(":3:"), "{found:?}");
}
