//! Issue 18: referrals, promo codes, re-engagement through the bot, onboarding, and the
//! operator's endpoints — including abuse: one's own link, loops, a code used twice, an expired
//! code, a one-use code redeemed concurrently, reminders to a user who opted out, and admin
//! endpoints called by other users.

use std::time::Duration;

use primerka::auth::init_data;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_user_id, spawn_app_with, wait_until};

async fn admin_app() -> (TestApp, i64, String) {
    let admin = new_user_id();
    let app = spawn_app_with(|env| {
        env.insert("ADMIN_TELEGRAM_IDS".into(), admin.to_string());
        env.insert("APP__TELEGRAM__BOT_USERNAME".into(), "primerka_test_bot".into());
    })
    .await;
    let token = app.login(admin).await;
    (app, admin, token)
}

/// Logs in as Telegram does when the Mini App was opened with `startapp=<param>`.
async fn login_with_start_param(app: &TestApp, user: i64, param: &str) -> String {
    let profile = json!({"id": user, "first_name": "Друг", "language_code": "ru"});
    let init = init_data::sign(
        &[
            ("auth_date", chrono::Utc::now().timestamp().to_string()),
            ("chat_type", "private".to_string()),
            ("start_param", param.to_string()),
            ("user", profile.to_string()),
        ],
        &app.init_secret,
    );
    let response = app.post_login(&init).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

fn provider_id(payment: &Value) -> String {
    payment["confirmation_url"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

/// Buys `product` with a card and lets the simulated YooKassa confirm it; the payment.
async fn pay(app: &TestApp, token: &str, product: &str) -> Value {
    let payment = app.buy(token, product).await;
    app.client
        .post(app.url(&format!("/sim/yookassa/payments/{}/succeed", provider_id(&payment))))
        .send()
        .await
        .unwrap();
    let id = payment["payment_id"].as_str().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || async {
            app.get(&format!("/api/payments/{id}"), token).await.json::<Value>().await.unwrap()["status"] == "succeeded"
        })
        .await,
        "the payment settled"
    );
    payment
}

fn code_of(me: &Value) -> String {
    me["referral"]["code"].as_str().unwrap().to_string()
}

async fn ledger_rows(app: &TestApp, user: i64, reason: &str) -> i64 {
    sqlx::query_scalar("select count(*) from ledger where user_id = $1 and reason = $2")
        .bind(user)
        .bind(reason)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_invited_user_and_the_inviter_get_credits_once_on_the_first_payment() {
    let (app, _, _) = admin_app().await;
    let inviter = new_user_id();
    let inviter_token = app.login(inviter).await;
    let me = app.get_me(&inviter_token).await;
    let code = code_of(&me);
    assert_eq!(me["referral_link"], format!("https://t.me/primerka_test_bot?startapp=ref_{code}"));
    assert_eq!((me["referral"]["invited"].as_i64(), me["referral"]["rewarded"].as_i64()), (Some(0), Some(0)));

    let friend = new_user_id();
    login_with_start_param(&app, friend, &format!("ref_{code}")).await;
    // The friend's later sessions are ordinary logins (`app.login` also does whatever else a
    // buyer must have done first).
    let friend_token = app.login(friend).await;
    assert_eq!(app.get_me(&inviter_token).await["referral"]["invited"], 1);
    assert_eq!(app.balance_total(&friend_token).await, 10, "nothing before a payment");

    pay(&app, &friend_token, "pack_100").await;
    assert!(
        wait_until(Duration::from_secs(5), || async { app.balance_total(&inviter_token).await == 30 }).await,
        "the inviter got 20"
    );
    assert_eq!(app.balance_total(&friend_token).await, 10 + 100 + 20, "the friend got the pack and 20");
    // A second payment, and the same link opened again: no second reward, no second invitation.
    login_with_start_param(&app, friend, &format!("ref_{code}")).await;
    pay(&app, &friend_token, "pack_100").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.balance_total(&inviter_token).await, 30);
    assert_eq!(app.balance_total(&friend_token).await, 10 + 200 + 20);
    assert_eq!((ledger_rows(&app, inviter, "referral").await, ledger_rows(&app, friend, "referral").await), (1, 1));
    let me = app.get_me(&inviter_token).await;
    assert_eq!((me["referral"]["invited"].as_i64(), me["referral"]["rewarded"].as_i64()), (Some(1), Some(1)));
    let history: Value = app.get("/api/me/ledger", &inviter_token).await.json().await.unwrap();
    assert_eq!(history["items"][0]["description"], "Начислено 20: бонус за приглашение");
    // Both were told by the bot.
    assert!(
        wait_until(Duration::from_secs(5), || async {
            let sent = app.sim_telegram_calls("sendMessage").await;
            [inviter, friend].iter().all(|u| {
                sent.iter().any(|c| c["chat_id"] == *u && c["params"]["text"].as_str().unwrap_or("").contains("+20"))
            })
        })
        .await
    );
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn the_bot_start_link_invites_and_self_referral_loops_and_old_users_are_refused() {
    let (app, _, _) = admin_app().await;
    let a = new_user_id();
    let a_token = app.login(a).await;
    let a_code = code_of(&app.get_me(&a_token).await);

    // `/start ref_<code>` in the bot, before the friend ever opened the app.
    let b = new_user_id();
    let start = json!({"update_id": 1, "message": {"message_id": 1, "chat": {"id": b, "type": "private"},
        "from": {"id": b, "is_bot": false, "first_name": "Б", "language_code": "ru"}, "text": format!("/start ref_{a_code}")}});
    assert_eq!(app.telegram_update(&start).await, StatusCode::OK);
    assert!(
        wait_until(Duration::from_secs(5), || async {
            app.sim_telegram_calls("sendMessage")
                .await
                .iter()
                .any(|c| c["chat_id"] == b && c["params"]["text"].as_str().unwrap_or("").contains("Вас пригласил друг"))
        })
        .await,
        "the greeting mentions the invitation"
    );
    let b_token = app.login(b).await;
    assert_eq!(app.get_me(&a_token).await["referral"]["invited"], 1);

    // One's own link.
    login_with_start_param(&app, a, &format!("ref_{a_code}")).await;
    // A loop: B invites A back (A is new and unpaid, so only the loop stops it).
    let b_code = code_of(&app.get_me(&b_token).await);
    login_with_start_param(&app, a, &format!("ref_{b_code}")).await;
    // A longer loop: C invited by B, then A opens C's link.
    let c = new_user_id();
    login_with_start_param(&app, c, &format!("ref_{b_code}")).await;
    let c_token = app.login(c).await;
    let c_code = code_of(&app.get_me(&c_token).await);
    login_with_start_param(&app, a, &format!("ref_{c_code}")).await;
    // An old user opening someone's link.
    let old = new_user_id();
    app.login(old).await;
    sqlx::query("update users set created_at = now() - interval '3 days' where telegram_id = $1")
        .bind(old)
        .execute(&app.pool)
        .await
        .unwrap();
    login_with_start_param(&app, old, &format!("ref_{a_code}")).await;
    // An unknown code and garbage.
    let d = new_user_id();
    login_with_start_param(&app, d, "ref_nosuchcode").await;
    login_with_start_param(&app, d, "ref_'; drop table users; --").await;

    let rows: Vec<(i64, i64)> = sqlx::query_as("select invitee, referrer from referrals order by created_at")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, vec![(b, a), (c, b)], "only B (by A) and C (by B) are invitations");
    // A pays: nobody is rewarded for A.
    let a_payment = pay(&app, &a_token, "pack_100").await;
    assert!(a_payment["payment_id"].is_string());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.balance_total(&a_token).await, 110);
    assert_eq!(app.balance_total(&b_token).await, 10);
}

async fn create_promo(app: &TestApp, admin: &str, body: Value) -> reqwest::Response {
    app.post_json("/api/admin/promo", admin, &body).await
}

async fn redeem(app: &TestApp, token: &str, code: &str) -> reqwest::Response {
    app.post_json("/api/promo/redeem", token, &json!({"code": code})).await
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap_or("").to_string())
}

#[tokio::test]
async fn a_credit_code_grants_once_per_user_within_its_limit_and_expiry() {
    let (app, _, admin) = admin_app().await;
    let created = create_promo(&app, &admin, json!({"code": "welcome50", "credits": 50, "max_uses": 2})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let row: Value = created.json().await.unwrap();
    assert_eq!((row["code"].as_str(), row["uses"].as_i64()), (Some("WELCOME50"), Some(0)));
    let again = create_promo(&app, &admin, json!({"code": "WELCOME50", "credits": 5, "max_uses": 1})).await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "codes are unique");

    let users: Vec<i64> = (0..3).map(|_| new_user_id()).collect();
    let mut tokens = Vec::new();
    for u in &users {
        tokens.push(app.login(*u).await);
    }
    let first = redeem(&app, &tokens[0], " Welcome50 ").await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.json::<Value>().await.unwrap(), json!({"credits": 50}));
    assert_eq!(app.balance_total(&tokens[0]).await, 60);
    assert_eq!(
        error_code(redeem(&app, &tokens[0], "WELCOME50").await).await,
        (StatusCode::CONFLICT, "promo_already_used".into())
    );
    assert_eq!(app.balance_total(&tokens[0]).await, 60, "used twice, granted once");
    assert_eq!(redeem(&app, &tokens[1], "welcome50").await.status(), StatusCode::OK);
    assert_eq!(
        error_code(redeem(&app, &tokens[2], "welcome50").await).await,
        (StatusCode::CONFLICT, "promo_used_up".into())
    );
    assert_eq!(
        error_code(redeem(&app, &tokens[2], "nope-nope").await).await,
        (StatusCode::NOT_FOUND, "promo_not_found".into())
    );
    assert_eq!(error_code(redeem(&app, &tokens[2], "").await).await.0, StatusCode::NOT_FOUND);

    // An expired code.
    let soon = chrono::Utc::now() + chrono::Duration::seconds(1);
    let r =
        create_promo(&app, &admin, json!({"code": "BRIEF", "credits": 5, "max_uses": 10, "expires_at": soon})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let expired = error_code(redeem(&app, &tokens[2], "brief").await).await;
    assert_eq!(expired, (StatusCode::GONE, "promo_expired".into()));
    assert_eq!(app.balance_total(&tokens[2]).await, 10);
    let history: Value = app.get("/api/me/ledger", &tokens[0]).await.json().await.unwrap();
    assert!(
        history["items"].as_array().unwrap().iter().any(|i| i["description"] == "Начислено 50: по промокоду"),
        "{history}"
    );

    // Bad requests from the operator are refused field by field.
    for (body, field) in [
        (json!({"code": "X", "credits": 5, "max_uses": 1}), "code"),
        (
            json!({"code": "BOTH", "credits": 5, "discount_percent": 10, "product": "pack_100", "max_uses": 1}),
            "discount_percent",
        ),
        (json!({"code": "NEITHER", "max_uses": 1}), "discount_percent"),
        (json!({"code": "NOPROD", "discount_percent": 10, "max_uses": 1}), "product"),
        (json!({"code": "BADPROD", "discount_percent": 10, "product": "nope", "max_uses": 1}), "product"),
        (json!({"code": "BIG", "discount_percent": 95, "product": "pack_100", "max_uses": 1}), "discount_percent"),
        (json!({"code": "ZERO", "credits": 5, "max_uses": 0}), "max_uses"),
        (json!({"code": "PAST", "credits": 5, "max_uses": 1, "expires_at": "2020-01-01T00:00:00Z"}), "expires_at"),
    ] {
        let r = create_promo(&app, &admin, body).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
    }
    let list: Value = app.get("/api/admin/promo", &admin).await.json().await.unwrap();
    let welcome = list["items"].as_array().unwrap().iter().find(|p| p["code"] == "WELCOME50").unwrap().clone();
    assert_eq!((welcome["uses"].as_i64(), welcome["max_uses"].as_i64()), (Some(2), Some(2)));
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_one_use_code_redeemed_by_forty_users_at_once_is_granted_once() {
    let (app, _, admin) = admin_app().await;
    assert_eq!(
        create_promo(&app, &admin, json!({"code": "ONLYONE", "credits": 30, "max_uses": 1})).await.status(),
        StatusCode::CREATED
    );
    let mut tokens = Vec::new();
    for _ in 0..40 {
        tokens.push(app.login(new_user_id()).await);
    }
    // Every user twice at the same moment, too.
    let attempts = tokens.iter().chain(tokens.iter()).map(|t| redeem(&app, t, "onlyone"));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts).await.into_iter().map(|r| r.status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT), "{statuses:?}");
    let granted: i64 =
        sqlx::query_scalar("select count(*) from ledger where reason = 'promo'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(granted, 1);
    let uses: i32 =
        sqlx::query_scalar("select uses from promo_codes where code = 'ONLYONE'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(uses, 1);
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_discount_code_lowers_the_next_card_payment_and_its_receipt_once() {
    let (app, _, admin) = admin_app().await;
    let r = create_promo(
        &app,
        &admin,
        json!({"code": "SALE20", "discount_percent": 20, "product": "pack_100", "max_uses": 5}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = app.login(new_user_id()).await;
    let answer: Value = redeem(&app, &token, "sale20").await.json().await.unwrap();
    assert_eq!(answer, json!({"discount_percent": 20, "product": "pack_100"}));
    let plans: Value = app.get("/api/plans", &token).await.json().await.unwrap();
    let pack = plans["products"].as_array().unwrap().iter().find(|p| p["id"] == "pack_100").unwrap().clone();
    assert_eq!((pack["discount_percent"].as_i64(), pack["discounted_price_rub"].as_str()), (Some(20), Some("159.20")));

    // A canceled payment gives the discount back; the next one uses it.
    let first = app.buy(&token, "pack_100").await;
    assert_eq!(first["amount_rub"], "159.20");
    app.client.post(app.url(&format!("/sim/yookassa/payments/{}/cancel", provider_id(&first)))).send().await.unwrap();
    let id = first["payment_id"].as_str().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || async {
            app.get(&format!("/api/payments/{id}"), &token).await.json::<Value>().await.unwrap()["status"] == "canceled"
        })
        .await
    );
    let paid = pay(&app, &token, "pack_100").await;
    assert_eq!(paid["amount_rub"], "159.20");
    let sent = app.sim.as_ref().unwrap().yookassa().created_with(paid["payment_id"].as_str().unwrap()).unwrap();
    assert_eq!(sent["amount"]["value"], "159.20");
    assert_eq!(sent["receipt"]["items"][0]["amount"]["value"], "159.20", "the receipt matches the amount");
    assert!(sent["receipt"]["items"][0]["description"].as_str().unwrap().contains("20%"), "{sent}");
    assert_eq!(app.balance_total(&token).await, 110, "the whole pack for the lower price");
    let gross: i64 = sqlx::query_scalar("select gross_kopecks from payments where id = $1::uuid")
        .bind(paid["payment_id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(gross, 15920, "the revenue report counts what was paid");
    // Used: the next payment is at the full price; the code cannot be redeemed again.
    let full = app.buy(&token, "pack_100").await;
    assert_eq!(full["amount_rub"], "199.00");
    assert_eq!(error_code(redeem(&app, &token, "SALE20").await).await.1, "promo_already_used");
    // Another product is not discounted.
    let other = app.login(new_user_id()).await;
    redeem(&app, &other, "SALE20").await;
    let sub = app.buy(&other, "sub_basic").await;
    assert_ne!(sub["amount_rub"], "159.20");
    assert!(app.ledger_differences().await.is_empty());
}

async fn reminders_to(app: &TestApp, user: i64) -> Vec<Value> {
    app.sim_telegram_calls("sendMessage")
        .await
        .into_iter()
        .filter(|c| c["chat_id"] == user && c["params"]["text"].as_str().unwrap_or("").contains("/reminders_off"))
        .collect()
}

async fn run_reminders(app: &TestApp) -> usize {
    primerka::actors::reminders::run(&app.services, &app.actors.notifier).await
}

#[tokio::test]
async fn reminders_honour_the_opt_out_and_the_rate_limit() {
    let (app, _, _) = admin_app().await;
    let (quiet, opted_out, unpaid, bot_off) = (new_user_id(), new_user_id(), new_user_id(), new_user_id());
    for u in [quiet, opted_out, unpaid, bot_off] {
        app.login(u).await;
    }
    // Three users last seen in an earlier month: their free credits of this month are waiting.
    for u in [quiet, opted_out, bot_off] {
        sqlx::query("update users set free_month = date '2020-01-01' where telegram_id = $1")
            .bind(u)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    // One opted out in the profile, one with the bot's command.
    let t = app.login(opted_out).await;
    let r = app.patch_me(&t, &json!({"reminders_off": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get_me(&t).await["reminders_off"], true);
    let off = json!({"update_id": 2, "message": {"message_id": 2, "chat": {"id": bot_off, "type": "private"},
        "from": {"id": bot_off, "is_bot": false, "first_name": "В"}, "text": "/reminders_off"}});
    assert_eq!(app.telegram_update(&off).await, StatusCode::OK);
    assert!(
        wait_until(Duration::from_secs(5), || async {
            sqlx::query_scalar::<_, bool>("select reminders_off from users where telegram_id = $1")
                .bind(bot_off)
                .fetch_one(&app.pool)
                .await
                .unwrap()
        })
        .await
    );
    // A purchase left unpaid two hours ago, and one left ten minutes ago (not yet).
    let ut = app.login(unpaid).await;
    let left = app.buy(&ut, "pack_100").await;
    sqlx::query("update payments set created_at = now() - interval '2 hours' where id = $1::uuid")
        .bind(left["payment_id"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();

    assert_eq!(run_reminders(&app).await, 2, "the quiet user and the unpaid purchase");
    assert!(
        wait_until(Duration::from_secs(5), || async {
            !reminders_to(&app, quiet).await.is_empty() && !reminders_to(&app, unpaid).await.is_empty()
        })
        .await
    );
    let free = &reminders_to(&app, quiet).await[0];
    assert!(free["params"]["text"].as_str().unwrap().contains("10 бесплатных кредитов"), "{free}");
    assert!(free["params"]["reply_markup"]["inline_keyboard"][0][0]["web_app"]["url"].is_string());
    let recall = &reminders_to(&app, unpaid).await[0];
    assert!(recall["params"]["text"].as_str().unwrap().contains("не завершена"), "{recall}");
    assert!(reminders_to(&app, opted_out).await.is_empty(), "the profile's opt-out is honoured");
    assert!(reminders_to(&app, bot_off).await.is_empty(), "the bot command's opt-out is honoured");

    // Once only, and at most one reminder per user in the gap: another unpaid purchase of the
    // reminded user is not recalled until the gap passed.
    let second = app.buy(&ut, "sub_basic").await;
    sqlx::query("update payments set created_at = now() - interval '90 minutes' where id = $1::uuid")
        .bind(second["payment_id"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(run_reminders(&app).await, 0, "rate-limited and once per month / payment");
    sqlx::query("update reminders_sent set sent_at = now() - interval '4 days'").execute(&app.pool).await.unwrap();
    assert_eq!(run_reminders(&app).await, 1, "after the gap: the second unpaid purchase, once");
    assert_eq!(run_reminders(&app).await, 0);
    // A user who paid after leaving a purchase is not recalled.
    let payer = new_user_id();
    let pt = app.login(payer).await;
    let abandoned = app.buy(&pt, "sub_basic").await;
    sqlx::query("update payments set created_at = now() - interval '3 hours' where id = $1::uuid")
        .bind(abandoned["payment_id"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    pay(&app, &pt, "pack_100").await;
    assert_eq!(run_reminders(&app).await, 0);
    // Turning reminders back on with the bot.
    let on = json!({"update_id": 3, "message": {"message_id": 3, "chat": {"id": bot_off, "type": "private"},
        "from": {"id": bot_off, "is_bot": false, "first_name": "В"}, "text": "/reminders_on"}});
    assert_eq!(app.telegram_update(&on).await, StatusCode::OK);
    assert!(
        wait_until(Duration::from_secs(5), || async {
            !sqlx::query_scalar::<_, bool>("select reminders_off from users where telegram_id = $1")
                .bind(bot_off)
                .fetch_one(&app.pool)
                .await
                .unwrap()
        })
        .await
    );
    assert_eq!(run_reminders(&app).await, 1, "the free credits reminder, now allowed");
}

#[tokio::test]
async fn onboarding_is_remembered_once_seen() {
    let (app, _, _) = admin_app().await;
    let token = app.login(new_user_id()).await;
    assert_eq!(app.get_me(&token).await["onboarded"], false);
    let r = app.patch_me(&token, &json!({"onboarded": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get_me(&token).await["onboarded"], true);
    let r = app.patch_me(&token, &json!({"onboarded": "yes"})).await;
    assert_eq!(r.status().as_u16() / 100, 4, "a wrong type is a client error");
}

#[tokio::test]
async fn no_operator_endpoint_answers_another_user() {
    let (app, admin_id, admin) = admin_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    assert_eq!(app.get_me(&token).await["user"]["is_admin"], false);
    let today = app.report_today();
    let payment = uuid::Uuid::new_v4();
    let gets = [
        "/api/admin/stats".to_string(),
        "/api/admin/ledger/check".to_string(),
        format!("/api/admin/revenue?from={today}&to={today}"),
        "/api/admin/promo".to_string(),
    ];
    let posts = [
        (format!("/api/admin/users/{user}/grant"), json!({"credits": 100, "reason": "me"})),
        (format!("/api/admin/payments/{payment}/refund"), json!({"reason": "me"})),
        ("/api/admin/promo".to_string(), json!({"code": "MINE", "credits": 1000, "max_uses": 1})),
    ];
    for path in &gets {
        assert_eq!(app.get(path, &token).await.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(app.get(path, &admin).await.status(), StatusCode::OK, "{path} for the operator");
    }
    for (path, body) in &posts {
        assert_eq!(app.post_json(path, &token, body).await.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            app.client.post(app.url(path)).json(body).send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    assert_eq!(app.balance_total(&token).await, 10);
    let codes: i64 = sqlx::query_scalar("select count(*) from promo_codes").fetch_one(&app.pool).await.unwrap();
    assert_eq!(codes, 0);

    // The operator's figures: today and this month, the providers, the queue.
    let stats: Value = app.get("/api/admin/stats", &admin).await.json().await.unwrap();
    assert!(stats["today"]["new_users"].as_i64().unwrap() >= 2, "{stats}");
    assert!(stats["month"]["active_users"].as_i64().unwrap() >= 2, "{stats}");
    assert_eq!(stats["providers"]["kie"]["errors_1h"], 0);
    assert_eq!(stats["providers"]["openrouter"]["errors_1h"], 0);
    assert!(stats["providers"]["queue"]["max"].as_u64().unwrap() > 0);
    assert!(stats["users"].as_i64().unwrap() >= 2);
    assert_eq!(stats["date"], app.report_today().to_string(), "the day the figures count from");
    let me: Value = app.get_me(&admin).await;
    assert_eq!((me["user"]["is_admin"].as_bool(), me["user"]["id"].as_i64()), (Some(true), Some(admin_id)));
}
