//! Issue 16, the try-on quiz's interfaces: categories, try-on photo kinds and quality checks
//! (with generated photos: fine, dark, blurry, small), cancel while queued, the aspect ratio sent
//! to kie.ai, `input_url`, clean masters (a paid edit chains on the clean picture) and the
//! watermark's coverage, ratings and their summary, and the bot delivering a result to a user
//! whose app is closed.

use std::io::Cursor;
use std::time::Duration;

use image::{DynamicImage, Rgb, RgbImage};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_user_id, spawn_app, spawn_app_with, wait_until};
use crate::ws::{connect, next_event_of};

/// A photo-like picture: a lit background with a gradient, a few shapes and fine texture
/// everywhere (a camera's detail), deterministic.
fn scene(w: u32, h: u32) -> DynamicImage {
    let mut seed = 0x2545_f491_u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 41) as i32 - 20
    };
    let image = RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        // A "person": an ellipse body and a head in the middle.
        let body = ((fx - 0.5) / 0.18).powi(2) + ((fy - 0.65) / 0.3).powi(2) < 1.0;
        let head = ((fx - 0.5) / 0.08).powi(2) + ((fy - 0.25) / 0.07).powi(2) < 1.0;
        let base: [i32; 3] = if head {
            [220, 180, 150]
        } else if body {
            [40, 70, 160]
        } else {
            [(120.0 + 80.0 * fy) as i32, (150.0 + 40.0 * fx) as i32, 170]
        };
        let n = noise();
        let stripe = if (x / 4 + y / 4) % 2 == 0 { 12 } else { -12 };
        Rgb(base.map(|c| (c + n + stripe).clamp(0, 255) as u8))
    });
    DynamicImage::ImageRgb8(image)
}

fn jpeg(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image.to_rgb8().write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg).unwrap();
    out
}

fn darkened(image: &DynamicImage, factor: f32) -> DynamicImage {
    let mut rgb = image.to_rgb8();
    for p in rgb.pixels_mut() {
        p.0 = p.0.map(|c| (f32::from(c) * factor) as u8);
    }
    DynamicImage::ImageRgb8(rgb)
}

async fn upload_kind(app: &TestApp, token: &str, bytes: Vec<u8>, kind: Option<&str>) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes).file_name("photo.jpg").mime_str("image/jpeg").unwrap();
    let mut form = reqwest::multipart::Form::new();
    // The kind after the file: the order of the form's fields does not matter.
    form = form.part("file", part);
    if let Some(kind) = kind {
        form = form.text("kind", kind.to_string());
    }
    app.client.post(app.url("/api/uploads")).bearer_auth(token).multipart(form).send().await.unwrap()
}

async fn upload_ok(app: &TestApp, token: &str, image: &DynamicImage, kind: Option<&str>) -> Value {
    let response = upload_kind(app, token, jpeg(image), kind).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn kie_tasks(app: &TestApp) -> Vec<Value> {
    app.client.get(app.url("/sim/kie/_control/tasks")).send().await.unwrap().json().await.unwrap()
}

async fn tryon_of(app: &TestApp, token: &str, person: &str, garment: &str) -> String {
    let response = app
        .post_json(
            "/api/tryon",
            token,
            &json!({"person_upload_id": person, "garment_upload_ids": [garment], "category": "outfit"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    body["generation_id"].as_str().unwrap().to_string()
}

async fn finished(app: &TestApp, token: &str, id: &str) -> Value {
    let done = wait_until(Duration::from_secs(20), || async {
        let row: Value = app.get(&format!("/api/generations/{id}"), token).await.json().await.unwrap();
        row["status"] == "succeeded" || row["status"] == "failed"
    })
    .await;
    assert!(done, "the generation finished");
    app.get(&format!("/api/generations/{id}"), token).await.json().await.unwrap()
}

async fn fetch(app: &TestApp, url: &str) -> Vec<u8> {
    let response = app.client.get(app.url(url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn categories_come_from_the_server_in_the_request_language() {
    let app = spawn_app().await;
    let ru: Vec<Value> = app.client.get(app.url("/api/tryon/categories")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = ru.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.first(), Some(&"outfit"), "a whole outfit first");
    for id in ["top", "bottom", "dress", "outerwear", "shoes", "headwear", "glasses", "bag", "jewellery", "accessory"] {
        assert!(ids.contains(&id), "{id} is offered");
    }
    assert_eq!(ru[0]["title"], "Образ целиком");
    assert!(ru.iter().all(|c| c["icon"].as_str().is_some_and(|i| !i.is_empty())));
    let en: Vec<Value> = app
        .client
        .get(app.url("/api/tryon/categories"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(en[0]["title"], "Whole outfit");
    // Every category offered is one the prompts know: a try-on with it is accepted.
    let token = app.login(new_user_id()).await;
    let person = upload_ok(&app, &token, &scene(600, 800), Some("person")).await;
    let garment = upload_ok(&app, &token, &scene(600, 600), Some("garment")).await;
    let response = app
        .post_json(
            "/api/tryon",
            &token,
            &json!({"person_upload_id": person["upload_id"], "garment_upload_ids": [garment["upload_id"]], "category": "accessory"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn try_on_photos_are_checked_and_listed_by_kind() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let fine = scene(900, 1200);

    let good = upload_ok(&app, &token, &fine, Some("person")).await;
    assert_eq!(good["kind"], "person");
    assert_eq!(good["warnings"], json!([]), "a good photo has nothing to warn about");

    let cases = [
        (darkened(&fine, 0.08), "too_dark"),
        (fine.blur(10.0), "too_blurry"),
        (fine.resize(300, 400, image::imageops::FilterType::Triangle), "too_small"),
    ];
    for (image, code) in cases {
        let response = upload_kind(&app, &token, jpeg(&image), Some("person")).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{code}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code);
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    // What may still work is accepted with a warning.
    let dim = upload_ok(&app, &token, &darkened(&fine, 0.45), Some("person")).await;
    assert_eq!(dim["warnings"], json!(["dark"]));
    let smallish =
        upload_ok(&app, &token, &fine.resize(600, 800, image::imageops::FilterType::Triangle), Some("person")).await;
    assert!(smallish["warnings"].as_array().unwrap().contains(&json!("small")), "{smallish}");
    // A garment on white (a shop picture) is not refused for being bright or plain.
    let white = DynamicImage::ImageRgb8(RgbImage::from_pixel(800, 800, Rgb([250, 250, 250])));
    let item = upload_ok(&app, &token, &white, Some("garment")).await;
    assert_eq!(item["kind"], "garment");
    assert!(item["warnings"].as_array().unwrap().contains(&json!("bright")));
    // Without a kind (an editor attachment) nothing but the file itself is checked.
    let plain = upload_ok(&app, &token, &fine.resize(300, 400, image::imageops::FilterType::Triangle), None).await;
    assert!(plain.get("warnings").is_none() && plain.get("kind").is_none());
    let bad = upload_kind(&app, &token, jpeg(&fine), Some("pet")).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // "My photos" and "my wardrobe": newest first, only that kind.
    let people: Value = app.get("/api/uploads?kind=person", &token).await.json().await.unwrap();
    let ids: Vec<&Value> = people["items"].as_array().unwrap().iter().map(|i| &i["upload_id"]).collect();
    assert_eq!(ids, vec![&smallish["upload_id"], &dim["upload_id"], &good["upload_id"]]);
    let wardrobe: Value = app.get("/api/uploads?kind=garment", &token).await.json().await.unwrap();
    assert_eq!(wardrobe["items"].as_array().unwrap().len(), 1);
    assert_eq!(wardrobe["items"][0]["upload_id"], item["upload_id"]);
    let all: Value = app.get("/api/uploads", &token).await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    assert_eq!(app.get("/api/uploads?kind=pet", &token).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// A real photo of `tests/fixtures/photos`, scaled up past the size checks.
fn real_photo(name: &str, scale: u32) -> DynamicImage {
    let path = format!("{}/tests/fixtures/photos/{name}", env!("CARGO_MANIFEST_DIR"));
    let image = image::open(path).unwrap();
    image.resize(image.width() * scale, image.height() * scale, image::imageops::FilterType::CatmullRom)
}

#[tokio::test]
async fn a_person_photos_framing_is_checked_on_real_faces() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let framing = |body: &Value| -> Vec<String> {
        body["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .filter(|w| ["cut_off", "several_people"].contains(w))
            .map(str::to_string)
            .collect()
    };
    // One person head to feet: nothing about the framing.
    let one = upload_ok(&app, &token, &real_photo("one.png", 7), Some("person")).await;
    assert_eq!(framing(&one), Vec::<String>::new(), "{one}");
    // Head and shoulders only: the body is out of frame. Accepted, with the warning.
    let closeup = upload_ok(&app, &token, &real_photo("closeup.png", 7), Some("person")).await;
    assert_eq!(framing(&closeup), vec!["cut_off"], "{closeup}");
    let group = upload_ok(&app, &token, &real_photo("group.png", 4), Some("person")).await;
    assert!(framing(&group).contains(&"several_people".to_string()), "{group}");
    // A garment photo is not read for faces (a model wearing the item is fine).
    let item = upload_ok(&app, &token, &real_photo("group.png", 4), Some("garment")).await;
    assert_eq!(framing(&item), Vec::<String>::new(), "{item}");
}

#[tokio::test]
async fn a_queued_job_can_be_cancelled_and_one_at_kie_cannot() {
    // One worker, and the first task hangs at kie.ai: the second job waits in the queue.
    let app = spawn_app_with(|env| {
        env.insert("APP__GENERATION__WORKERS".into(), "1".into());
    })
    .await;
    app.kie_fault(json!({"hang_tasks": 1})).await;
    let token = app.login(new_user_id()).await;
    let before = app.balance_total(&token).await;
    let person =
        upload_ok(&app, &token, &scene(600, 800), Some("person")).await["upload_id"].as_str().unwrap().to_string();
    let garment =
        upload_ok(&app, &token, &scene(640, 640), Some("garment")).await["upload_id"].as_str().unwrap().to_string();
    let running = tryon_of(&app, &token, &person, &garment).await;
    assert!(
        wait_until(Duration::from_secs(10), || async {
            let row: Value = app.get(&format!("/api/generations/{running}"), &token).await.json().await.unwrap();
            row["status"] != "queued"
        })
        .await,
        "the first job reached kie.ai"
    );
    let queued = tryon_of(&app, &token, &person, &garment).await;
    assert_eq!(app.balance_total(&token).await, before - 4, "both held");

    let response = app.post_json(&format!("/api/generations/{queued}/cancel"), &token, &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "canceled"}));
    assert_eq!(app.balance_total(&token).await, before - 2, "the hold was released when the answer came");
    let row: Value = app.get(&format!("/api/generations/{queued}"), &token).await.json().await.unwrap();
    assert_eq!(row["status"], "failed");
    assert_eq!(row["error"]["code"], "canceled");
    assert_eq!(row["error"]["credits_returned"], true);

    let response = app.post_json(&format!("/api/generations/{running}/cancel"), &token, &json!({})).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_cancellable");
    // Cancelling again, or someone else's job: refused, nothing moves.
    let again = app.post_json(&format!("/api/generations/{queued}/cancel"), &token, &json!({})).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let stranger = app.login(new_user_id()).await;
    let theirs = app.post_json(&format!("/api/generations/{running}/cancel"), &stranger, &json!({})).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);

    assert_eq!(kie_tasks(&app).await.len(), 1, "the cancelled job never reached kie.ai");
    assert_eq!(app.balance_total(&token).await, before - 2);
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn kie_gets_the_aspect_ratio_nearest_the_person_photo() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let garment =
        upload_ok(&app, &token, &scene(640, 640), Some("garment")).await["upload_id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for (w, h) in [(1600, 900), (900, 900), (900, 1200)] {
        let person = upload_ok(&app, &token, &scene(w, h), None).await["upload_id"].as_str().unwrap().to_string();
        let id = tryon_of(&app, &token, &person, &garment).await;
        // One at a time (the in-flight cap is two), so the tasks reach kie.ai in this order.
        assert_eq!(finished(&app, &token, &id).await["status"], "succeeded");
        ids.push(id);
    }
    let tasks = kie_tasks(&app).await;
    let sizes: Vec<&str> = tasks.iter().map(|t| t["input"]["image_size"].as_str().unwrap()).collect();
    assert_eq!(sizes, vec!["16:9", "1:1", "3:4"]);
    assert!(tasks.iter().all(|t| t["model"] == "google/nano-banana-edit"));
    assert!(tasks.iter().all(|t| t["input"]["image_urls"].as_array().unwrap().len() == 2));
}

#[tokio::test]
async fn a_free_result_is_watermarked_everywhere_and_a_paid_edit_chains_on_its_clean_master() {
    let admin = new_user_id();
    let app = spawn_app_with(|env| {
        env.insert("ADMIN_TELEGRAM_IDS".into(), admin.to_string());
    })
    .await;
    let user = new_user_id();
    let token = app.login(user).await;
    let _socket = connect(&app, &token).await;
    let person_image = scene(600, 800);
    let person = upload_ok(&app, &token, &person_image, Some("person")).await;
    let garment = upload_ok(&app, &token, &scene(640, 640), Some("garment")).await;
    let id =
        tryon_of(&app, &token, person["upload_id"].as_str().unwrap(), garment["upload_id"].as_str().unwrap()).await;
    let row = finished(&app, &token, &id).await;
    assert_eq!(row["status"], "succeeded");
    assert_eq!(row["watermarked"], true);

    // input_url is the person photo, for the before/after comparison.
    let input = fetch(&app, row["input_url"].as_str().unwrap()).await;
    assert_eq!(input, fetch(&app, person["url"].as_str().unwrap()).await);

    // The delivered result vs the clean master: the mark covers the picture, so a crop of any
    // 30 % band (rows or columns) still shows it.
    let delivered = image::load_from_memory(&fetch(&app, row["result_url"].as_str().unwrap()).await).unwrap().to_rgb8();
    let master_key: String = sqlx::query_scalar("select master_key from generations where id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(master_key.starts_with("masters/"));
    let master = image::load_from_memory(&app.services.storage.get(&master_key).await.unwrap()).unwrap().to_rgb8();
    assert_eq!(master.dimensions(), delivered.dimensions());
    let (w, h) = master.dimensions();
    let marked = |x0: u32, y0: u32, x1: u32, y1: u32| {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let (a, b) = (master.get_pixel(x, y), delivered.get_pixel(x, y));
                (0..3).map(|c| i32::from(a[c].abs_diff(b[c]))).sum::<i32>() > 40
            })
            .count()
    };
    let (bw, bh) = (w * 3 / 10, h * 3 / 10);
    for step in 0..=10 {
        let y0 = (h - bh) * step / 10;
        assert!(marked(0, y0, w, y0 + bh) > (w * bh / 100) as usize, "rows {y0}..{}", y0 + bh);
        let x0 = (w - bw) * step / 10;
        assert!(marked(x0, 0, x0 + bw, h) > (h * bw / 100) as usize, "columns {x0}..{}", x0 + bw);
    }

    // The user pays, opens the result in the editor ("edit in chat") and edits it.
    let admin_token = app.login(admin).await;
    let granted = app
        .post_json(&format!("/api/admin/users/{user}/grant"), &admin_token, &json!({"credits": 20, "reason": "test"}))
        .await;
    assert_eq!(granted.status(), StatusCode::OK);
    let current = app.post_json("/api/chat/current", &token, &json!({"generation_id": id})).await;
    assert_eq!(current.status(), StatusCode::OK);
    let reply: Value =
        app.post_json("/api/chat/messages", &token, &json!({"text": "сделай фон пляжем"})).await.json().await.unwrap();
    let variant = reply["variants"][0]["id"].as_str().unwrap().to_string();
    let accepted: Value = app
        .post_json(&format!("/api/chat/variants/{variant}/generate"), &token, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(accepted["watermarked"], false, "paid with purchased credits");
    let edit_id = accepted["generation_id"].as_str().unwrap().to_string();
    let edit = finished(&app, &token, &edit_id).await;
    assert_eq!(edit["status"], "succeeded");
    // kie.ai got the clean master, not the watermarked copy the user saw.
    let tasks = kie_tasks(&app).await;
    let edit_input = tasks.last().unwrap()["input"]["image_urls"][0].as_str().unwrap().to_string();
    assert!(edit_input.contains(&format!("/media/{master_key}")), "{edit_input}");
    // The comparison shows what the user edited (the delivered picture), never the master.
    assert!(edit["input_url"].as_str().unwrap().starts_with("/media/results/"));
    let edited: Option<String> = sqlx::query_scalar("select master_key from generations where id = $1::uuid")
        .bind(&edit_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(edited, None, "a paid result is clean and stored once");

    // Deleting the try-on removes both files.
    let deleted =
        app.client.delete(app.url(&format!("/api/generations/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(!app.services.storage.exists(&master_key).await.unwrap());
}

#[tokio::test]
async fn results_are_rated_and_summarised_for_the_operator() {
    let admin = new_user_id();
    let app = spawn_app_with(|env| {
        env.insert("ADMIN_TELEGRAM_IDS".into(), admin.to_string());
    })
    .await;
    let token = app.login(new_user_id()).await;
    let person =
        upload_ok(&app, &token, &scene(600, 800), Some("person")).await["upload_id"].as_str().unwrap().to_string();
    let garment =
        upload_ok(&app, &token, &scene(640, 640), Some("garment")).await["upload_id"].as_str().unwrap().to_string();
    let first = tryon_of(&app, &token, &person, &garment).await;
    let second = tryon_of(&app, &token, &person, &garment).await;
    finished(&app, &token, &first).await;
    finished(&app, &token, &second).await;

    let rate = |id: String, body: Value| {
        let app = &app;
        let token = token.clone();
        async move { app.post_json(&format!("/api/generations/{id}/rating"), &token, &body).await.status() }
    };
    assert_eq!(rate(first.clone(), json!({"rating": "up"})).await, StatusCode::NO_CONTENT);
    assert_eq!(rate(second.clone(), json!({"rating": "down", "reason": "рукав не тот"})).await, StatusCode::NO_CONTENT);
    assert_eq!(rate(second.clone(), json!({"rating": "meh"})).await, StatusCode::UNPROCESSABLE_ENTITY);
    let stranger = app.login(new_user_id()).await;
    let theirs =
        app.post_json(&format!("/api/generations/{first}/rating"), &stranger, &json!({"rating": "down"})).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let row: Value = app.get(&format!("/api/generations/{second}"), &token).await.json().await.unwrap();
    assert_eq!(row["rating"], "down");

    let admin_token = app.login(admin).await;
    let summary: Value = app.get("/api/admin/ratings", &admin_token).await.json().await.unwrap();
    assert_eq!((summary["up"].as_i64(), summary["down"].as_i64()), (Some(1), Some(1)));
    assert_eq!(summary["by_category"][0]["category"], "outfit");
    assert_eq!(summary["recent_reasons"][0]["reason"], "рукав не тот");
    assert_eq!(app.get("/api/admin/ratings", &token).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_bot_brings_a_result_to_a_user_whose_app_is_closed() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let person =
        upload_ok(&app, &token, &scene(600, 800), Some("person")).await["upload_id"].as_str().unwrap().to_string();
    let garment =
        upload_ok(&app, &token, &scene(640, 640), Some("garment")).await["upload_id"].as_str().unwrap().to_string();

    // With the app open (a live socket) the result arrives there, not in the chat.
    let mut socket = connect(&app, &token).await;
    let open = tryon_of(&app, &token, &person, &garment).await;
    next_event_of(&mut socket, "job.succeeded").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.sim_telegram_calls("sendPhoto").await.is_empty(), "no bot message while the app is open");
    drop(socket);

    // Closed: the bot sends the photo with a button that opens it in the app.
    let closed = tryon_of(&app, &token, &person, &garment).await;
    assert!(
        wait_until(Duration::from_secs(20), || async { !app.sim_telegram_calls("sendPhoto").await.is_empty() }).await,
        "the bot sent the result"
    );
    let calls = app.sim_telegram_calls("sendPhoto").await;
    assert_eq!(calls.len(), 1);
    let call = calls[0].to_string();
    assert!(call.contains(&format!("?result={closed}")), "a button opening the result: {call}");
    assert!(call.contains("web_app"), "{call}");
    assert!(!call.contains(&open), "the result seen in the app is not sent");
}
