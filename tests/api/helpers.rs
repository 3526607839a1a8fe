//! `spawn_app()`: the real application on 127.0.0.1 with an OS-chosen port, a fresh
//! PostgreSQL database, and the provider simulator mounted in-process; plus one helper per
//! endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use primerka::actors::ActorHandles;
use primerka::auth::init_data;
use primerka::config::{EnvMap, Settings};
use primerka::simulator::SimState;
use primerka::startup::Application;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

pub const JWT_SECRET: &str = "test-jwt-secret-that-is-long-enough-0123456789";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub pool: PgPool,
    pub db_name: String,
    pub client: reqwest::Client,
    pub bot_token: String,
    pub init_secret: [u8; 32],
    pub settings: Arc<Settings>,
    pub actors: ActorHandles,
    pub sim: Option<SimState>,
    pub services: Arc<primerka::actors::Services>,
    pub storage_dir: tempfile::TempDir,
}

/// The admin URL tests create their databases from.
pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// `postgres://…/postgres` → `postgres://…/<name>`.
pub fn database_url_for(name: &str) -> String {
    let admin = admin_database_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
    format!("{base}/{name}")
}

/// The environment a test app starts with; `customize` may add or change variables.
pub fn test_env(db_name: &str, storage_dir: &std::path::Path) -> EnvMap {
    let bot_token = format!("{}:TEST-{}", 100_000 + rand::random::<u32>() % 899_999, uuid::Uuid::new_v4().simple());
    HashMap::from([
        ("APP_ENV".into(), "test".into()),
        ("PORT".into(), "0".into()),
        ("DATABASE_URL".into(), database_url_for(db_name)),
        ("JWT_SECRET".into(), JWT_SECRET.into()),
        ("TELEGRAM_BOT_TOKEN".into(), bot_token),
        ("SIMULATOR".into(), "1".into()),
        ("RATE_LIMITS".into(), "off".into()),
        ("APP__SERVER__HOST".into(), "127.0.0.1".into()),
        ("APP__STORAGE__LOCAL_DIR".into(), storage_dir.display().to_string()),
    ])
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customize: impl FnOnce(&mut EnvMap)) -> TestApp {
    primerka::telemetry::init_test_tracing();
    let db_name = format!("primerka_test_{}", uuid::Uuid::new_v4().simple());
    let storage_dir = tempfile::Builder::new().prefix("primerka-test").tempdir().expect("temp dir");
    let mut env = test_env(&db_name, storage_dir.path());
    customize(&mut env);
    let config_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let settings = Settings::from_env(&env, &config_dir).expect("test settings are valid");
    // Without a configured token (demo mode) the app uses the public demo bot's.
    let bot_token = env.get("TELEGRAM_BOT_TOKEN").cloned().unwrap_or_else(|| primerka::config::DEMO_BOT_TOKEN.into());
    let app = Application::build(settings).await.expect("the application builds");
    let port = app.port();
    let pool = app.pool.clone();
    let settings = app.settings.clone();
    let actors = app.actors.clone();
    let sim = app.simulator.clone();
    let services = app.services.clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        pool,
        db_name,
        client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client"),
        init_secret: init_data::secret_key(&bot_token),
        bot_token,
        settings,
        actors,
        sim,
        services,
        storage_dir,
    }
}

/// A Telegram user for tests, with a unique id.
pub fn new_user_id() -> i64 {
    1_000_000_000 + i64::from(rand::random::<u32>() % 1_000_000_000)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Today in the configured timezone (Moscow by default), the calendar the revenue report's
    /// `from`/`to` days are in: between 21:00 and 24:00 UTC it is already tomorrow there.
    pub fn report_today(&self) -> chrono::NaiveDate {
        let tz = self.settings.timezone().expect("the test settings have a valid timezone");
        chrono::Utc::now().with_timezone(&tz).date_naive()
    }

    /// initData as Telegram would send it for `user_id`, signed with this app's bot token.
    pub fn init_data_for(&self, user_id: i64) -> String {
        let user = json!({"id": user_id, "first_name": "Тест", "last_name": "User", "username": format!("u{user_id}"), "language_code": "ru"});
        init_data::sign_for_user(&user, chrono::Utc::now().timestamp(), &self.init_secret)
    }

    pub async fn post_login(&self, init_data: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/auth/telegram"))
            .json(&json!({"init_data": init_data}))
            .send()
            .await
            .expect("request")
    }

    /// Logs `user_id` in as a user who has accepted the documents (offer, privacy, automatic
    /// renewal) and given an e-mail for receipts, as every user who uploads or pays has; returns
    /// the JWT. [`TestApp::login_new`] is a user who has done neither.
    pub async fn login(&self, user_id: i64) -> String {
        let token = self.login_new(user_id).await;
        self.accept_terms(&token).await;
        token
    }

    /// Logs `user_id` in (no consents, no contact) and returns the JWT.
    pub async fn login_new(&self, user_id: i64) -> String {
        let response = self.post_login(&self.init_data_for(user_id)).await;
        assert_eq!(response.status(), StatusCode::OK, "login failed");
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_string()
    }

    /// `POST /api/me/consents` for every document's current version and `PUT /api/me/contact`
    /// with an e-mail (`GET /api/me/consents` names the versions).
    pub async fn accept_terms(&self, token: &str) {
        let consents: Value = self.get("/api/me/consents", token).await.json().await.expect("json");
        for (kind, version) in consents["versions"].as_object().expect("versions") {
            self.consent(token, kind, version.as_str().expect("a version")).await;
        }
        self.set_contact(token, &json!({"email": "buyer@example.com"})).await;
    }

    /// `POST /api/me/consents {kind, version}`; asserts it was recorded.
    pub async fn consent(&self, token: &str, kind: &str, version: &str) {
        let response = self.post_json("/api/me/consents", token, &json!({"kind": kind, "version": version})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "consent to {kind} refused");
    }

    /// `PUT /api/me/contact`; asserts it was accepted.
    pub async fn set_contact(&self, token: &str, contact: &Value) {
        let response = self
            .client
            .put(self.url("/api/me/contact"))
            .bearer_auth(token)
            .json(contact)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "contact refused");
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    /// `PATCH /api/me` (the user's settings: language, reminders, onboarding).
    pub async fn patch_me(&self, token: &str, body: &Value) -> reqwest::Response {
        self.client.patch(self.url("/api/me")).bearer_auth(token).json(body).send().await.expect("request")
    }

    /// `POST /api/uploads` with a 320×480 PNG photo of one colour; returns the upload id.
    pub async fn upload_photo(&self, token: &str) -> String {
        let image =
            image::RgbaImage::from_fn(320, 480, |x, y| image::Rgba([(x % 251) as u8, (y % 241) as u8, 90, 255]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgba8(image)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("PNG encodes");
        let part = reqwest::multipart::Part::bytes(png).file_name("me.png").mime_str("image/png").expect("mime");
        let response = self
            .client
            .post(self.url("/api/uploads"))
            .bearer_auth(token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::CREATED, "upload failed");
        let body: Value = response.json().await.expect("json");
        body["upload_id"].as_str().expect("upload_id").to_string()
    }

    /// The user's total credits (`GET /api/me`).
    pub async fn balance_total(&self, token: &str) -> i64 {
        self.get_me(token).await["balance"]["total"].as_i64().expect("balance.total")
    }

    /// `POST /api/tryon` with the given photos (category `top`).
    pub async fn post_tryon(&self, token: &str, person: &str, garments: &[&str]) -> reqwest::Response {
        self.post_json(
            "/api/tryon",
            token,
            &json!({"person_upload_id": person, "garment_upload_ids": garments, "category": "top"}),
        )
        .await
    }

    /// `POST /api/chat/current {upload_id}` with a new photo: the chat has something to edit.
    pub async fn attach_photo(&self, token: &str) {
        let upload = self.upload_photo(token).await;
        let response = self.post_json("/api/chat/current", token, &json!({"upload_id": upload})).await;
        assert_eq!(response.status(), StatusCode::OK, "attaching a photo to the chat failed");
    }

    /// `POST /api/chat/messages {text}`.
    pub async fn post_chat_message(&self, token: &str, text: &str) -> reqwest::Response {
        self.post_json("/api/chat/messages", token, &json!({"text": text})).await
    }

    /// `POST /api/payments {product}` (YooKassa, redirect); the created payment.
    pub async fn buy(&self, token: &str, product: &str) -> Value {
        let response = self.post_json("/api/payments", token, &json!({"product": product})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "creating a payment failed");
        response.json().await.expect("json")
    }

    /// Delivers a Telegram update to `/webhooks/telegram` with the secret token; the status.
    pub async fn telegram_update(&self, update: &Value) -> StatusCode {
        use secrecy::ExposeSecret;
        self.client
            .post(self.url("/webhooks/telegram"))
            .header("x-telegram-bot-api-secret-token", self.settings.secrets.telegram_webhook_secret.expose_secret())
            .json(update)
            .send()
            .await
            .expect("request")
            .status()
    }

    /// `POST /sim/kie/_control/faults`.
    pub async fn kie_fault(&self, fault: Value) {
        let response =
            self.client.post(self.url("/sim/kie/_control/faults")).json(&fault).send().await.expect("request");
        assert!(response.status().is_success(), "kie fault refused");
    }

    /// `GET /sim/kie/_control/stats`.
    pub async fn kie_stats(&self) -> Value {
        self.client.get(self.url("/sim/kie/_control/stats")).send().await.expect("request").json().await.expect("json")
    }

    /// `POST /sim/openrouter/_control/faults`.
    pub async fn openrouter_fault(&self, fault: Value) {
        let response =
            self.client.post(self.url("/sim/openrouter/_control/faults")).json(&fault).send().await.expect("request");
        assert!(response.status().is_success(), "openrouter fault refused");
    }

    pub async fn get_me(&self, token: &str) -> Value {
        let response = self.get("/api/me", token).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    pub async fn user_rows(&self, user_id: i64) -> i64 {
        sqlx::query_scalar("select count(*) from users where telegram_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// Bot API calls the simulator recorded.
    pub async fn sim_telegram_calls(&self, method: &str) -> Vec<Value> {
        let response = self
            .client
            .get(self.url(&format!("/sim/telegram/_control/calls?method={method}")))
            .send()
            .await
            .expect("request");
        response.json().await.expect("json")
    }

    /// The ledger check through the same code the admin endpoint uses.
    pub async fn ledger_differences(&self) -> Vec<primerka::db::credits::Difference> {
        primerka::db::credits::check(&self.pool).await.expect("ledger check")
    }
}

/// Polls `condition` until it holds or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A Telegram `successful_payment` update in stars for our payment `payload`.
pub fn stars_paid_update(user: i64, payload: &str, amount: i64, charge: &str, first: bool) -> Value {
    json!({"update_id": 1000 + charge.len() as i64 * 7 + i64::from(first), "message": {"message_id": 10, "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": false},
        "successful_payment": {"currency": "XTR", "total_amount": amount, "invoice_payload": payload,
            "telegram_payment_charge_id": charge, "provider_payment_charge_id": "",
            "is_recurring": true, "is_first_recurring": first,
            "subscription_expiration_date": chrono::Utc::now().timestamp() + 30 * 86_400}}})
}

/// A 240×320 PNG of one colour.
pub fn solid_png(colour: [u8; 4]) -> Vec<u8> {
    let image = image::RgbaImage::from_pixel(240, 320, image::Rgba(colour));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(image)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}
