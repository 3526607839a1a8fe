//! Uploads, signed media, try-on end to end over HTTP + WebSocket against the kie.ai
//! simulator, failures that return credits, restart recovery and the provider budget.

use std::io::Cursor;
use std::time::Duration;

use image::{DynamicImage, Rgba, RgbaImage};
use primerka::actors::session::ReserveCmd;
use primerka::db::generations::{self as gen_db, NewGeneration};
use primerka::db::types::{GenerationKind, GenerationStatus};
use primerka::domain::errors::ErrorCode;
use primerka::domain::ids::UserId;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_user_id, spawn_app, spawn_app_with, wait_until};
use crate::ws::{connect, next_event_of};

fn picture(w: u32, h: u32, colour: [u8; 4], format: image::ImageFormat) -> Vec<u8> {
    let image = DynamicImage::ImageRgba8(RgbaImage::from_pixel(w, h, Rgba(colour)));
    let image = if format == image::ImageFormat::Jpeg { DynamicImage::ImageRgb8(image.to_rgb8()) } else { image };
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

async fn upload_raw(app: &TestApp, token: &str, bytes: Vec<u8>, mime: &str) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes).file_name("../../etc/passwd.png").mime_str(mime).unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    app.client.post(app.url("/api/uploads")).bearer_auth(token).multipart(form).send().await.unwrap()
}

async fn upload(app: &TestApp, token: &str, colour: [u8; 4]) -> String {
    let response = upload_raw(app, token, picture(300, 400, colour, image::ImageFormat::Png), "image/png").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["upload_id"].as_str().unwrap().to_string()
}

async fn tryon(app: &TestApp, token: &str) -> reqwest::Response {
    let person = upload(app, token, [200, 150, 120, 255]).await;
    let garment = upload(app, token, [20, 40, 200, 255]).await;
    app.post_json(
        "/api/tryon",
        token,
        &json!({"person_upload_id": person, "garment_upload_ids": [garment], "category": "top"}),
    )
    .await
}

async fn balance_total(app: &TestApp, token: &str) -> i64 {
    app.get_me(token).await["balance"]["total"].as_i64().expect("balance.total")
}

async fn kie_stats(app: &TestApp) -> Value {
    app.client.get(app.url("/sim/kie/_control/stats")).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn uploads_are_checked_and_stripped() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;

    let ok = upload_raw(&app, &token, picture(64, 48, [1, 2, 3, 255], image::ImageFormat::Jpeg), "image/jpeg").await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let body: Value = ok.json().await.unwrap();
    assert_eq!((body["width"].as_i64(), body["height"].as_i64()), (Some(64), Some(48)));
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with("/media/uploads/") && !url.contains("passwd"), "random key, not the client's name: {url}");
    let fetched = app.client.get(app.url(url)).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.headers()["content-type"], "image/jpeg");

    let mismatch = upload_raw(&app, &token, picture(8, 8, [0; 4], image::ImageFormat::Png), "image/jpeg").await;
    assert_eq!(mismatch.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = mismatch.json().await.unwrap();
    assert_eq!(body["error"]["code"], "type_mismatch");
    assert_eq!(body["error"]["message"], "Содержимое файла не совпадает с его типом. Выберите другое фото.");

    let text = upload_raw(&app, &token, b"hello, not an image".to_vec(), "image/png").await;
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let too_big = upload_raw(&app, &token, vec![0xFF; 6 * 1024 * 1024], "image/jpeg").await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // 9000×9000 of one colour: tiny as PNG, refused before decoding.
    let bomb = picture(9000, 9000, [0, 0, 0, 255], image::ImageFormat::Png);
    assert!(bomb.len() < 5 * 1024 * 1024);
    let refused = upload_raw(&app, &token, bomb, "image/png").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let listed: Value = app.get("/api/uploads", &token).await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "only the good upload was kept");
    let files = walk(app.storage_dir.path());
    assert_eq!(files, 1, "refused uploads leave no file");
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { 0xEDB8_8320 ^ (crc >> 1) } else { crc >> 1 };
        }
    }
    !crc
}

/// A small PNG whose header claims `w`×`h` (a decompression bomb's header).
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut png = picture(4, 4, [1, 1, 1, 255], image::ImageFormat::Png);
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[tokio::test]
async fn the_upload_matrix_rejects_everything_but_real_jpeg_and_png() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let jpeg = picture(32, 32, [9, 9, 9, 255], image::ImageFormat::Jpeg);
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        ("gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(), "image/gif", 415, "unsupported_type"),
        ("webp", b"RIFF\x1a\x00\x00\x00WEBPVP8 \x0e\x00\x00\x00".to_vec(), "image/webp", 415, "unsupported_type"),
        ("svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(), "image/svg+xml", 415, "unsupported_type"),
        ("pdf as jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj".to_vec(), "image/jpeg", 415, "type_mismatch"),
        ("script as jpg", b"#!/bin/sh\nrm -rf /\n".to_vec(), "image/jpeg", 415, "type_mismatch"),
        ("truncated jpeg", jpeg[..jpeg.len() / 2].to_vec(), "image/jpeg", 422, "decode_failed"),
        ("zero bytes", Vec::new(), "image/jpeg", 422, "corrupt_image"),
        ("6 MB", vec![0xFF; 6 * 1024 * 1024], "image/jpeg", 413, "too_large"),
        ("30000×30000 png", png_claiming(30_000, 30_000), "image/png", 422, "too_many_pixels"),
    ];
    for (name, bytes, mime, status, code) in cases {
        let response = upload_raw(&app, &token, bytes, mime).await;
        assert_eq!(response.status().as_u16(), status, "{name}");
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{name}: not JSON: {text}"));
        assert_eq!(body["error"]["code"], code, "{name}");
    }
    assert_eq!(walk(app.storage_dir.path()), 0, "nothing stored");
    let rows: i64 = sqlx::query_scalar("select count(*) from uploads").fetch_one(&app.pool).await.unwrap();
    assert_eq!(rows, 0);

    // A JPEG with GPS EXIF is accepted and stored without it.
    let plain = picture(40, 30, [90, 60, 30, 255], image::ImageFormat::Jpeg);
    let payload = b"Exif\0\0GPSLatitude 55.7558 N";
    let mut with_gps = vec![0xFF, 0xD8, 0xFF, 0xE1];
    with_gps.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    with_gps.extend_from_slice(payload);
    with_gps.extend_from_slice(&plain[2..]);
    let response = upload_raw(&app, &token, with_gps, "image/jpeg").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let stored = app.client.get(app.url(body["url"].as_str().unwrap())).send().await.unwrap().bytes().await.unwrap();
    assert!(!stored.windows(4).any(|w| w == b"Exif") && !stored.windows(3).any(|w| w == b"GPS"), "EXIF removed");
}

#[tokio::test]
async fn a_user_with_purchased_credits_gets_a_clean_result() {
    let admin = new_user_id();
    let app = spawn_app_with(|env| {
        env.insert("ADMIN_TELEGRAM_IDS".into(), admin.to_string());
    })
    .await;
    let admin_token = app.login(admin).await;
    let user = new_user_id();
    let token = app.login(user).await;
    let granted = app
        .post_json(&format!("/api/admin/users/{user}/grant"), &admin_token, &json!({"credits": 10, "reason": "test"}))
        .await;
    assert_eq!(granted.status(), StatusCode::OK);
    let mut socket = connect(&app, &token).await;
    let accepted: Value = tryon(&app, &token).await.json().await.unwrap();
    assert_eq!(accepted["watermarked"], false, "paid with purchased credits");
    let done = next_event_of(&mut socket, "job.succeeded").await;
    assert_eq!(done["data"]["watermarked"], false);
    let bytes = app
        .client
        .get(app.url(done["data"]["result_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let result = image::load_from_memory(&bytes).unwrap().to_rgba8();
    let (w, h) = result.dimensions();
    assert!(near(result.get_pixel(w / 2, (h as f32 * 0.80) as u32), [200, 150, 120]), "no watermark band");
    let me = app.get_me(&token).await;
    assert_eq!((me["balance"]["purchased"].as_i64(), me["balance"]["free"].as_i64()), (Some(8), Some(10)));
}

/// A pixel within JPEG noise of `rgb`.
fn near(pixel: &Rgba<u8>, rgb: [u8; 3]) -> bool {
    (0..3).all(|c| pixel[c].abs_diff(rgb[c]) <= 4)
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
        .unwrap_or(0)
}

#[tokio::test]
async fn media_links_are_signed_and_expire() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let response = upload_raw(&app, &token, picture(10, 10, [9; 4], image::ImageFormat::Png), "image/png").await;
    let body: Value = response.json().await.unwrap();
    let url = body["url"].as_str().unwrap().to_string();
    let (path, _) = url.split_once('?').unwrap();

    assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let forged = url.replace("sig=", "sig=00");
    assert_eq!(app.client.get(app.url(&forged)).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let key = path.trim_start_matches("/media/");
    let expired = app.actors_storage_path(key, -10);
    let gone = app.client.get(app.url(&expired)).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body["error"]["code"], "link_expired");
    assert_eq!(
        app.client.get(app.url("/media/uploads/..%2F..%2Fetc%2Fpasswd")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

trait SignedPath {
    fn actors_storage_path(&self, key: &str, ttl: i64) -> String;
}

impl SignedPath for TestApp {
    /// A link signed with the app's key, expiring `ttl` seconds from now (negative: already).
    fn actors_storage_path(&self, key: &str, ttl: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        self.services.storage.signed_path(key, 0, now + ttl)
    }
}

#[tokio::test]
async fn a_tryon_runs_end_to_end_with_live_events_and_a_watermark_on_the_free_tier() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let mut socket = connect(&app, &token).await;
    let before = balance_total(&app, &token).await;

    let response = tryon(&app, &token).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = response.json().await.unwrap();
    let id = accepted["generation_id"].as_str().unwrap().to_string();
    assert_eq!(accepted["cost"], 2);
    assert_eq!(accepted["watermarked"], true, "free credits paid for it");

    let queued = next_event_of(&mut socket, "job.queued").await;
    assert_eq!(queued["data"]["generation_id"], id.as_str());
    let done = next_event_of(&mut socket, "job.succeeded").await;
    assert_eq!(done["data"]["generation_id"], id.as_str());
    assert_eq!(done["data"]["watermarked"], true);
    let url = done["data"]["result_url"].as_str().unwrap();

    let image_bytes = app.client.get(app.url(url)).send().await.unwrap().bytes().await.unwrap();
    assert!(image_bytes.starts_with(&[0xFF, 0xD8, 0xFF]), "results are stored as JPEG");
    let saved = app.client.get(app.url(&format!("{url}&download=1"))).send().await.unwrap();
    let disposition = saved.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"primerka-") && disposition.ends_with(".jpg\""),
        "{disposition}"
    );
    let result = image::load_from_memory(&image_bytes).expect("the result is a real image").to_rgba8();
    let (w, h) = result.dimensions();
    assert!(w >= 300 && h >= 400, "built from the inputs: {w}×{h}");
    // The person's colour at the top left, the garment inset on the right, the mark below.
    assert!(near(result.get_pixel(5, 5), [200, 150, 120]), "{:?}", result.get_pixel(5, 5));
    assert!(!near(result.get_pixel(w / 2, (h as f32 * 0.80) as u32), [200, 150, 120]), "watermark band");

    assert_eq!(balance_total(&app, &token).await, before - 2, "exactly the try-on's price");
    let item: Value = app.get(&format!("/api/generations/{id}"), &token).await.json().await.unwrap();
    assert_eq!(item["status"], "succeeded");
    let gallery: Value = app.get("/api/generations", &token).await.json().await.unwrap();
    assert_eq!(gallery["items"][0]["id"], id.as_str());
    let stats = kie_stats(&app).await;
    assert_eq!(stats["creates"], 1, "one provider task per generation");
    let prompt: String = sqlx::query_scalar("select prompt from generations").fetch_one(&app.pool).await.unwrap();
    assert!(
        prompt.starts_with("Virtual try-on") && prompt.contains("top (shirt"),
        "the template from config/prompts: {prompt}"
    );
    assert!(app.ledger_differences().await.is_empty());

    // Send to chat, then delete: the file goes, the row leaves the gallery.
    let sent =
        app.client.post(app.url(&format!("/api/generations/{id}/send"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    assert!(
        wait_until(Duration::from_secs(5), || async { !app.sim_telegram_calls("sendPhoto").await.is_empty() }).await
    );
    // The Notifier sends at most one message per second to a chat: the file follows the photo.
    assert!(
        wait_until(Duration::from_secs(5), || async { !app.sim_telegram_calls("sendDocument").await.is_empty() }).await,
        "and as a file"
    );
    let deleted =
        app.client.delete(app.url(&format!("/api/generations/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.client.get(app.url(url)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let gallery: Value = app.get("/api/generations", &token).await.json().await.unwrap();
    assert!(gallery["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_generation_returns_the_credits_and_says_so() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let mut socket = connect(&app, &token).await;
    let before = balance_total(&app, &token).await;
    app.client.post(app.url("/sim/kie/_control/faults")).json(&json!({"fail_tasks": 1})).send().await.unwrap();

    let accepted: Value = tryon(&app, &token).await.json().await.unwrap();
    let failed = next_event_of(&mut socket, "job.failed").await;
    assert_eq!(failed["data"]["generation_id"], accepted["generation_id"]);
    assert_eq!(failed["data"]["credits_returned"], true);
    assert_eq!(failed["data"]["code"], "generation_failed");
    assert!(failed["data"]["message"].as_str().unwrap().contains("Кредиты возвращены"), "Russian by default");

    assert!(wait_until(Duration::from_secs(5), || async { balance_total(&app, &token).await == before }).await);
    let id = accepted["generation_id"].as_str().unwrap();
    let item: Value = app.get(&format!("/api/generations/{id}"), &token).await.json().await.unwrap();
    assert_eq!(item["status"], "failed");
    assert_eq!(item["refunded"], true);
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn create_errors_are_retried_and_unusable_requests_are_refused() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let mut socket = connect(&app, &token).await;
    // Two maintenance answers (455), then success: the job still finishes, with one task.
    app.client
        .post(app.url("/sim/kie/_control/faults"))
        .json(&json!({"create_errors": 2, "create_error_code": 455}))
        .send()
        .await
        .unwrap();
    tryon(&app, &token).await;
    next_event_of(&mut socket, "job.succeeded").await;
    assert_eq!(kie_stats(&app).await["creates"], 1);

    // Someone else's photo, an unknown category, no garments.
    let other = app.login(new_user_id()).await;
    let foreign = upload(&app, &other, [1, 1, 1, 255]).await;
    let mine = upload(&app, &token, [2, 2, 2, 255]).await;
    let response = app
        .post_json(
            "/api/tryon",
            &token,
            &json!({"person_upload_id": mine, "garment_upload_ids": [foreign], "category": "top"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let bad_category = app
        .post_json(
            "/api/tryon",
            &token,
            &json!({"person_upload_id": mine, "garment_upload_ids": [mine], "category": "hat"}),
        )
        .await;
    assert_eq!(bad_category.status(), StatusCode::BAD_REQUEST);
    let none = app
        .post_json(
            "/api/tryon",
            &token,
            &json!({"person_upload_id": mine, "garment_upload_ids": [], "category": "top"}),
        )
        .await;
    assert_eq!(none.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let rows: i64 = sqlx::query_scalar("select count(*) from generations").fetch_one(&app.pool).await.unwrap();
    assert_eq!(rows, 1, "refused requests leave no rows");
}

#[tokio::test]
async fn without_credits_nothing_is_queued() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let person = upload(&app, &token, [1, 1, 1, 255]).await;
    let garment = upload(&app, &token, [2, 2, 2, 255]).await;
    // Spend the free allowance down to 1 credit.
    let session = app.actors.sessions.session(UserId(user));
    let free = balance_total(&app, &token).await as i32;
    let hold = session
        .reserve(ReserveCmd { cost: free - 1, purpose: "tryon".into(), key: "spend".into(), generation_id: None })
        .await
        .unwrap();
    session.commit(hold.id).await.unwrap();

    let response = app
        .post_json(
            "/api/tryon",
            &token,
            &json!({"person_upload_id": person, "garment_upload_ids": [garment], "category": "dress"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_credits");
    let rows: i64 = sqlx::query_scalar("select count(*) from generations").fetch_one(&app.pool).await.unwrap();
    assert_eq!(rows, 0);
    assert_eq!(balance_total(&app, &token).await, 1);
}

/// Writes a job as a crashed process would have left it: row and hold (one statement, as the
/// session writes them), no worker.
async fn orphan_job(app: &TestApp, user: i64, keys: &[String], stage_creating: bool) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let token = uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string();
    // The session brings the buckets up to date (the month's free credits) first.
    app.actors.sessions.session(UserId(user)).balance().await.unwrap();
    let snapshot = primerka::db::credits::load_state(&app.pool, UserId(user)).await.unwrap();
    let split = primerka::domain::credits::split_cost(2, &snapshot.buckets).unwrap();
    let request = primerka::db::credits::ReserveRequest {
        hold_id: primerka::domain::ids::HoldId::new(),
        user: UserId(user),
        key: format!("gen:{id}"),
        purpose: "tryon".into(),
        split,
        expected: snapshot,
        generation_id: Some(id),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(30),
        generation: Some(NewGeneration {
            id,
            kind: GenerationKind::Tryon,
            category: Some("top".into()),
            prompt: "Dress the person".into(),
            input_upload_ids: vec![],
            input_keys: keys.to_vec(),
            callback_token: token,
        }),
    };
    assert!(primerka::db::credits::reserve(&app.pool, &request).await.unwrap().is_some(), "row and hold written");
    if stage_creating {
        assert!(gen_db::mark_creating(&app.pool, id).await.unwrap());
    }
    // The credits moved outside the session: it re-reads them.
    app.actors.sessions.reload(UserId(user));
    id
}

/// A person and a garment photo uploaded for `token`'s user, as storage keys (person first).
async fn person_and_garment_keys(app: &TestApp, token: &str) -> Vec<String> {
    let person = upload(app, token, [200, 10, 10, 255]).await;
    let garment = upload(app, token, [10, 10, 200, 255]).await;
    sqlx::query_scalar("select storage_key from uploads where id = any($1) order by created_at")
        .bind(vec![uuid::Uuid::parse_str(&person).unwrap(), uuid::Uuid::parse_str(&garment).unwrap()])
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// A new process on `first`'s database and storage: a restart.
async fn restarted(first: &TestApp) -> TestApp {
    let db_url = crate::helpers::database_url_for(&first.db_name);
    let storage = first.storage_dir.path().display().to_string();
    spawn_app_with(|env| {
        env.insert("DATABASE_URL".into(), db_url);
        env.insert("APP__STORAGE__LOCAL_DIR".into(), storage);
    })
    .await
}

#[tokio::test]
async fn a_restart_finishes_queued_jobs_and_refunds_ones_that_may_have_a_task() {
    let first = spawn_app().await;
    let user = new_user_id();
    let token = first.login(user).await;
    let keys = person_and_garment_keys(&first, &token).await;
    let queued = orphan_job(&first, user, &keys, false).await;
    let unknown = orphan_job(&first, user, &keys, true).await;
    let before: i64 = first.get_me(&token).await["balance"]["total"].as_i64().unwrap();

    // A new process on the same database and storage.
    let second = restarted(&first).await;
    let done = wait_until(Duration::from_secs(20), || async {
        let statuses: Vec<String> = sqlx::query_scalar("select status from generations where id = any($1)")
            .bind(vec![queued, unknown])
            .fetch_all(&second.pool)
            .await
            .unwrap();
        statuses.iter().all(|s| s == "succeeded" || s == "failed")
    })
    .await;
    assert!(done, "every unfinished job is resolved after the restart");
    let row = gen_db::get(&second.pool, queued).await.unwrap();
    assert_eq!(row.status, GenerationStatus::Succeeded);
    let row = gen_db::get(&second.pool, unknown).await.unwrap();
    assert_eq!(
        (row.status, row.error_code, row.refunded),
        (GenerationStatus::Failed, Some(ErrorCode::ProviderUnknown), true)
    );
    assert_eq!(kie_stats(&second).await["creates"], 1, "no second task for the job that may have one");
    let token = second.login(user).await;
    assert!(
        wait_until(Duration::from_secs(5), || async {
            second.get_me(&token).await["balance"]["total"].as_i64().unwrap() == before + 2
        })
        .await,
        "the unknown job's 2 credits came back; the finished one's were spent"
    );
    assert!(second.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_burst_of_100_jobs_from_20_users_stays_within_kie_limits_and_the_in_flight_cap() {
    const USERS: usize = 20;
    const JOBS_PER_USER: usize = 5;
    let app = spawn_app().await;
    let cap = app.settings.file.sessions.max_in_flight_generations as i64;
    let mut users = Vec::new();
    for _ in 0..USERS {
        let id = new_user_id();
        let token = app.login(id).await;
        let person = upload(&app, &token, [200, 150, 120, 255]).await;
        let garment = upload(&app, &token, [20, 40, 200, 255]).await;
        users.push((id, token, person, garment));
    }
    // Watches every user's unfinished jobs while the burst runs.
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (pool, watching) = (app.pool.clone(), watching.clone());
        tokio::spawn(async move {
            let mut most = 0i64;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                let now: Option<i64> = sqlx::query_scalar(
                    "select max(n) from (select count(*) as n from generations
                     where status in ('queued', 'submitted', 'running') group by user_id) per_user",
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                most = most.max(now.unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            most
        })
    };
    // Every user wants 5 try-ons at once; like the Mini App, a refusal for the in-flight cap
    // is retried a little later.
    let refusals = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (_, token, person, garment) in &users {
        for _ in 0..JOBS_PER_USER {
            let (client, url, token, refusals) =
                (app.client.clone(), app.url("/api/tryon"), token.clone(), refusals.clone());
            let body = json!({"person_upload_id": person, "garment_upload_ids": [garment], "category": "top"});
            tasks.push(tokio::spawn(async move {
                loop {
                    let response = client.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
                    match response.status() {
                        StatusCode::ACCEPTED => return,
                        StatusCode::TOO_MANY_REQUESTS => {
                            let body: Value = response.json().await.unwrap();
                            assert_eq!(body["error"]["code"], "in_flight_limit");
                            refusals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        other => panic!("unexpected answer {other}: {}", response.text().await.unwrap_or_default()),
                    }
                }
            }));
        }
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(120), task).await.expect("every job was accepted in time").unwrap();
    }
    let total = (USERS * JOBS_PER_USER) as i64;
    let finished = wait_until(Duration::from_secs(60), || async {
        let n: i64 = sqlx::query_scalar("select count(*) from generations where status in ('succeeded', 'failed')")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        n == total
    })
    .await;
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(finished, "every job of the burst ended");
    let most = sampler.await.unwrap();
    assert!(most <= cap, "a user had {most} jobs in flight; the cap is {cap}");
    assert!(refusals.load(std::sync::atomic::Ordering::Relaxed) > 0, "the in-flight cap was exercised");
    let unrefunded_failures: i64 =
        sqlx::query_scalar("select count(*) from generations where status = 'failed' and not refunded")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(unrefunded_failures, 0, "every job ended succeeded or refunded");
    let stats = kie_stats(&app).await;
    assert_eq!(stats["rejected_creates"], 0, "kie.ai never answered 429: {stats}");
    assert_eq!(stats["rejected_polls"], 0, "{stats}");
    assert!(stats["max_creates_in_window"].as_u64().unwrap() <= 20, "{stats}");
    assert_eq!(stats["creates"], total as u64, "one provider task per job");
    for (id, token, ..) in &users {
        let succeeded: i64 =
            sqlx::query_scalar("select count(*) from generations where user_id = $1 and status = 'succeeded'")
                .bind(id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(balance_total(&app, token).await, 10 - 2 * succeeded, "user {id} paid only for results");
    }
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn the_kie_callback_is_a_hint_and_unknown_tokens_are_refused() {
    let app = spawn_app().await;
    let forged = app
        .client
        .post(app.url(&format!("/webhooks/kie/{}", "ab".repeat(32))))
        .json(&json!({"code": 200, "data": {"state": "success"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::NOT_FOUND);
    let token = app.login(new_user_id()).await;
    let mut socket = connect(&app, &token).await;
    tryon(&app, &token).await;
    next_event_of(&mut socket, "job.succeeded").await;
    assert!(
        wait_until(Duration::from_secs(5), || async { kie_stats(&app).await["callbacks_sent"] == 1 }).await,
        "the simulator called back and was answered 200"
    );
}

#[tokio::test]
async fn deleting_my_data_removes_photos_results_and_the_chat() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let mut socket = connect(&app, &token).await;
    tryon(&app, &token).await;
    next_event_of(&mut socket, "job.succeeded").await;
    assert_eq!(walk(app.storage_dir.path()), 3, "two photos and a result");
    let response = app.client.delete(app.url("/api/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(walk(app.storage_dir.path()), 0, "every stored image is gone");
    // Tokens from before the deletion are revoked (issue 15); the user logs in again.
    assert_eq!(app.get("/api/generations", &token).await.status(), StatusCode::UNAUTHORIZED);
    let token = app.login(user).await;
    let gallery: Value = app.get("/api/generations", &token).await.json().await.unwrap();
    assert!(gallery["items"].as_array().unwrap().is_empty());
    let uploads: Value = app.get("/api/uploads", &token).await.json().await.unwrap();
    assert!(uploads["items"].as_array().unwrap().is_empty());
    assert!(app.ledger_differences().await.is_empty(), "the ledger stays consistent");
}

#[tokio::test]
async fn expired_uploads_are_deleted_by_the_retention_job() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let id = upload(&app, &token, [5, 5, 5, 255]).await;
    assert_eq!(walk(app.storage_dir.path()), 1);
    sqlx::query("update uploads set expires_at = now() - interval '1 minute' where id = $1")
        .bind(uuid::Uuid::parse_str(&id).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    // The job the scheduler runs hourly, invoked directly.
    let services = app.services.clone();
    primerka::actors::scheduler::delete_expired_uploads(&services).await;
    assert_eq!(walk(app.storage_dir.path()), 0, "the photo file is gone");
    let listed: Value = app.get("/api/uploads", &token).await.json().await.unwrap();
    assert!(listed["items"].as_array().unwrap().is_empty());
    let response = app
        .post_json(
            "/api/tryon",
            &token,
            &json!({"person_upload_id": id, "garment_upload_ids": [id], "category": "top"}),
        )
        .await;
    assert!(response.status().is_client_error(), "an expired photo cannot be used");
}

#[tokio::test]
async fn active_lists_only_my_unfinished_jobs_newest_first() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let other = app.login(new_user_id()).await;
    let mut socket = connect(&app, &token).await;
    // One finished job, then one that never finishes (the task hangs at kie.ai).
    let done: Value = tryon(&app, &token).await.json().await.unwrap();
    next_event_of(&mut socket, "job.succeeded").await;
    app.client.post(app.url("/sim/kie/_control/faults")).json(&json!({"hang_tasks": 1})).send().await.unwrap();
    let running: Value = tryon(&app, &token).await.json().await.unwrap();
    tryon(&app, &other).await;

    let page: Value = app.get("/api/generations?active=1", &token).await.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the unfinished job of this user: {page}");
    assert_eq!(items[0]["id"], running["generation_id"]);
    assert_eq!(items[0]["kind"], "tryon");
    assert!(["queued", "submitted", "running"].contains(&items[0]["status"].as_str().unwrap()), "{page}");
    assert_eq!(page["next_cursor"], Value::Null);
    // The plain gallery still lists both, newest first.
    let all: Value = app.get("/api/generations", &token).await.json().await.unwrap();
    let ids: Vec<&Value> = all["items"].as_array().unwrap().iter().map(|g| &g["id"]).collect();
    assert_eq!(ids, [&running["generation_id"], &done["generation_id"]]);
    assert_eq!(app.get("/api/generations?active=maybe", &token).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_full_queue_says_busy_and_charges_nothing() {
    let app = spawn_app_with(|env| {
        env.insert("APP__GENERATION__MAX_QUEUE".into(), "0".into());
    })
    .await;
    let token = app.login(new_user_id()).await;
    let response = tryon(&app, &token).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "queue_full");
    assert!(body["error"]["message"].as_str().unwrap().contains("кредиты не списаны"));
    assert_eq!(balance_total(&app, &token).await, 10);
    let rows: i64 = sqlx::query_scalar("select count(*) from generations").fetch_one(&app.pool).await.unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn uploads_beyond_the_storage_quota_are_refused_and_nothing_is_stored() {
    let app = spawn_app_with(|env| {
        env.insert("APP__STORAGE__USER_QUOTA_BYTES".into(), "6000".into());
    })
    .await;
    let token = app.login(new_user_id()).await;
    let mut accepted = 0;
    let refused = loop {
        let jpeg = picture(64, 48, [(accepted * 40 % 256) as u8, 2, 3, 255], image::ImageFormat::Jpeg);
        let response = upload_raw(&app, &token, jpeg, "image/jpeg").await;
        if response.status() != StatusCode::CREATED {
            break response;
        }
        accepted += 1;
        assert!(accepted < 50, "the quota never bit");
    };
    assert!(accepted >= 1, "uploads within the quota are accepted");
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded");
    assert!(body["error"]["message"].as_str().unwrap().contains("Хранилище заполнено"));
    assert_eq!(walk(app.storage_dir.path()), accepted, "the refused photo left no file");
    let stored: i64 = sqlx::query_scalar("select coalesce(sum(size_bytes), 0)::bigint from uploads")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(stored <= 6000, "{stored} bytes kept");
}

#[tokio::test]
async fn no_image_an_unchanged_image_and_a_hung_task_are_failures_that_return_the_credits() {
    let app = spawn_app_with(|env| {
        env.insert("APP__GENERATION__MAX_WAIT_SECS".into(), "3".into());
        // A queue that drains within those 3 s, as the settings require.
        env.insert("APP__GENERATION__MAX_QUEUE".into(), "1".into());
        env.insert("APP__GENERATION__WORKERS".into(), "4".into());
    })
    .await;
    let token = app.login(new_user_id()).await;
    let mut socket = connect(&app, &token).await;
    for (fault, code, text) in [
        ("empty_tasks", "no_result", "не вернула изображение"),
        ("unchanged_tasks", "unchanged_result", "без изменений"),
        ("hang_tasks", "provider_timeout", "слишком много времени"),
    ] {
        app.client.post(app.url("/sim/kie/_control/faults")).json(&json!({fault: 1})).send().await.unwrap();
        let accepted: Value = tryon(&app, &token).await.json().await.unwrap();
        let failed = next_event_of(&mut socket, "job.failed").await;
        assert_eq!(failed["data"]["generation_id"], accepted["generation_id"], "{fault}");
        assert_eq!(failed["data"]["code"], code, "{fault}");
        assert_eq!(failed["data"]["credits_returned"], true, "{fault}");
        assert_eq!(failed["data"]["refunded"], 2, "{fault}");
        assert!(failed["data"]["message"].as_str().unwrap().contains(text), "{fault}: {failed}");
        assert!(
            wait_until(Duration::from_secs(5), || async { balance_total(&app, &token).await == 10 }).await,
            "{fault}: the 2 credits came back"
        );
    }
    let results: i64 = sqlx::query_scalar("select count(*) from generations where result_key is not null")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(results, 0, "nothing was kept as a result");
    // The next, healthy try-on still works: the faults were one-offs.
    tryon(&app, &token).await;
    next_event_of(&mut socket, "job.succeeded").await;
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn old_results_are_deleted_by_the_retention_job_and_leave_the_gallery() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let mut socket = connect(&app, &token).await;
    tryon(&app, &token).await;
    let done = next_event_of(&mut socket, "job.succeeded").await;
    let id = uuid::Uuid::parse_str(done["data"]["generation_id"].as_str().unwrap()).unwrap();
    let result_key: String = sqlx::query_scalar("select result_key from generations where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let days = app.settings.file.storage.result_retention_days;
    assert!(days > 0);
    // Younger than the retention: kept.
    primerka::actors::scheduler::delete_expired_uploads(&app.services).await;
    assert!(app.services.storage.exists(&result_key).await.unwrap());
    sqlx::query("update generations set finished_at = now() - make_interval(days => $2::int + 1) where id = $1")
        .bind(id)
        .bind(days)
        .execute(&app.pool)
        .await
        .unwrap();
    primerka::actors::scheduler::delete_expired_uploads(&app.services).await;
    assert!(!app.services.storage.exists(&result_key).await.unwrap(), "the result file is gone");
    let gallery: Value = app.get("/api/generations", &token).await.json().await.unwrap();
    assert!(gallery["items"].as_array().unwrap().is_empty(), "and it left the gallery");
    let item = app.get(&format!("/api/generations/{id}"), &token).await;
    assert_eq!(item.status(), StatusCode::NOT_FOUND);
    assert!(app.ledger_differences().await.is_empty(), "the charge for it stays in the ledger");
}

#[tokio::test]
async fn each_category_gets_its_own_prompt_and_unknown_ones_are_refused() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let person = upload(&app, &token, [200, 150, 120, 255]).await;
    let garment = upload(&app, &token, [20, 40, 200, 255]).await;
    for category in ["shoes", "outerwear"] {
        let response = app
            .post_json(
                "/api/tryon",
                &token,
                &json!({"person_upload_id": person, "garment_upload_ids": [garment], "category": category}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let prompts: Vec<(String, String)> =
        sqlx::query_as("select category, prompt from generations").fetch_all(&app.pool).await.unwrap();
    let prompt_of = |c: &str| prompts.iter().find(|(k, _)| k == c).map(|(_, p)| p.clone()).unwrap();
    assert!(prompt_of("shoes").contains("feet"), "shoes use config/prompts/tryon/shoes.md");
    assert!(prompt_of("outerwear").contains("coat or jacket"), "the general template names the category");
    assert!(!prompt_of("outerwear").contains("{category}"));
    let refused = app
        .post_json(
            "/api/tryon",
            &token,
            &json!({"person_upload_id": person, "garment_upload_ids": [garment], "category": "spacesuit"}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_job_that_waited_too_long_is_refunded_without_a_provider_task() {
    let first = spawn_app().await;
    let user = new_user_id();
    let token = first.login(user).await;
    let keys = person_and_garment_keys(&first, &token).await;
    // Queued, then the service was down for longer than a generation may take.
    let stale = orphan_job(&first, user, &keys, false).await;
    sqlx::query("update generations set created_at = now() - interval '2 hours' where id = $1")
        .bind(stale)
        .execute(&first.pool)
        .await
        .unwrap();
    let second = restarted(&first).await;
    let resolved = wait_until(Duration::from_secs(10), || async {
        gen_db::get(&second.pool, stale).await.unwrap().status == GenerationStatus::Failed
    })
    .await;
    assert!(resolved);
    let row = gen_db::get(&second.pool, stale).await.unwrap();
    assert_eq!((row.error_code, row.refunded), (Some(ErrorCode::ProviderTimeout), true));
    assert_eq!(kie_stats(&second).await["creates"], 0, "no task was paid for a job nobody waits for");
    let token = second.login(user).await;
    assert!(
        wait_until(Duration::from_secs(5), || async { balance_total(&second, &token).await == 10 }).await,
        "the credits came back"
    );
    assert!(second.ledger_differences().await.is_empty());
}
