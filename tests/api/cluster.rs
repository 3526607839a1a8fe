//! Two nodes on one database (issue 19): what happens on one node reaches the user's socket on
//! the other, and the chat written on one is read right on the other.

use std::time::{Duration, Instant};

use primerka::domain::ids::UserId;
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_user_id, spawn_app_with};
use crate::ws::{connect, next_event_of};

/// A second node on `first`'s database and storage.
async fn second_node(first: &TestApp) -> TestApp {
    let db_url = crate::helpers::database_url_for(&first.db_name);
    let storage = first.storage_dir.path().display().to_string();
    spawn_app_with(|env| {
        env.insert("DATABASE_URL".into(), db_url);
        env.insert("APP__STORAGE__LOCAL_DIR".into(), storage);
        env.insert("APP__CLUSTER__ENABLED".into(), "true".into());
        env.insert("ADMIN_TELEGRAM_IDS".into(), "1".into());
    })
    .await
}

async fn first_node() -> TestApp {
    spawn_app_with(|env| {
        env.insert("APP__CLUSTER__ENABLED".into(), "true".into());
        env.insert("ADMIN_TELEGRAM_IDS".into(), "1".into());
    })
    .await
}

#[tokio::test]
async fn news_from_one_node_reaches_the_users_socket_on_the_other() {
    let a = first_node().await;
    let b = second_node(&a).await;
    let user = new_user_id();
    let token = a.login(user).await;
    let mut socket = connect(&a, &token).await;
    let first = next_event_of(&mut socket, "balance").await;
    assert_eq!(first["data"]["total"], 10);
    // The operator grants on node B; the balance on node A's socket follows.
    let admin = b.login(1).await;
    let mut latencies = Vec::new();
    for round in 1..=5 {
        let started = Instant::now();
        let granted = b
            .post_json(
                &format!("/api/admin/users/{user}/grant"),
                &admin,
                &json!({"credits": 1, "reason": "cluster test"}),
            )
            .await;
        assert!(granted.status().is_success());
        loop {
            let event = next_event_of(&mut socket, "balance").await;
            if event["data"]["total"] == 10 + round {
                break;
            }
        }
        latencies.push(started.elapsed());
    }
    latencies.sort();
    assert!(latencies[4] < Duration::from_secs(1), "every event crossed within a second: {latencies:?}");
}

#[tokio::test]
async fn the_chat_written_on_one_node_is_what_the_other_reads_and_extends() {
    let a = first_node().await;
    let b = second_node(&a).await;
    let user = new_user_id();
    let (token_a, token_b) = (a.login(user).await, b.login(user).await);
    a.attach_photo(&token_a).await;
    assert!(a.post_chat_message(&token_a, "сделай фон пляжем").await.status().is_success());
    // Node B's session of the same user reads the chat node A wrote, then writes after it.
    let chat: Value = b.get("/api/chat", &token_b).await.json().await.unwrap();
    assert_eq!(chat["messages"].as_array().unwrap().len(), 2);
    assert!(b.post_chat_message(&token_b, "а теперь закат").await.status().is_success());
    // And node A sees all four (its cached copy was dropped when B wrote).
    let _ = a.actors.sessions.session(UserId(user)).chat().await;
    let chat: Value = a.get("/api/chat", &token_a).await.json().await.unwrap();
    let texts: Vec<&str> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["сделай фон пляжем", "а теперь закат"]);
}
