//! The app storing images in an S3-compatible bucket (`storage.s3_bucket`) through
//! `object_store`: a local `moto_server` (PyPI `moto[server]`, installed by `scripts/test.sh`)
//! stands in for the bucket. Uploads, signed media links, a try-on's inputs fetched by the
//! kie.ai simulator and its stored result all go through the bucket; nothing touches the
//! local folder.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::{free_port, new_user_id, solid_png, spawn_app_with, wait_until};
use crate::ws::{connect, next_event_of};

/// Keys listed in the bucket (S3 ListObjectsV2; moto accepts unsigned reads).
async fn bucket_keys(client: &reqwest::Client, endpoint: &str, bucket: &str) -> Vec<String> {
    let xml = client.get(format!("{endpoint}/{bucket}?list-type=2")).send().await.unwrap().text().await.unwrap();
    xml.split("<Key>").skip(1).filter_map(|part| part.split("</Key>").next()).map(str::to_string).collect()
}

#[tokio::test]
async fn images_live_in_an_s3_bucket_when_one_is_configured() {
    let port = free_port();
    let mut moto = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("moto_server is installed (scripts/test.sh installs `moto[server]` from PyPI)");
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let up = wait_until(Duration::from_secs(30), || async { client.get(&endpoint).send().await.is_ok() }).await;
    assert!(up, "moto_server answered");
    let bucket = format!("primerka-test-{}", uuid::Uuid::new_v4().simple());
    let created = client.put(format!("{endpoint}/{bucket}")).send().await.unwrap();
    assert!(created.status().is_success(), "bucket created: {}", created.status());

    let (endpoint_env, bucket_env) = (endpoint.clone(), bucket.clone());
    let app = spawn_app_with(move |env| {
        env.insert("APP__STORAGE__S3_BUCKET".into(), bucket_env);
        env.insert("APP__STORAGE__S3_ENDPOINT".into(), endpoint_env);
        env.insert("APP__STORAGE__S3_REGION".into(), "us-east-1".into());
        env.insert("S3_ACCESS_KEY_ID".into(), "test-key".into());
        env.insert("S3_SECRET_ACCESS_KEY".into(), "test-secret".into());
    })
    .await;
    assert!(app.services.storage.describe().starts_with("s3:"), "{}", app.services.storage.describe());
    let token = app.login(new_user_id()).await;
    let mut ids = Vec::new();
    for colour in [[200, 150, 120, 255], [20, 40, 200, 255]] {
        let part = reqwest::multipart::Part::bytes(solid_png(colour)).file_name("p.png").mime_str("image/png").unwrap();
        let response = app
            .client
            .post(app.url("/api/uploads"))
            .bearer_auth(&token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        let fetched = app.client.get(app.url(body["url"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(fetched.status(), StatusCode::OK, "the signed link reads from the bucket");
        ids.push(body["upload_id"].as_str().unwrap().to_string());
    }
    let keys = bucket_keys(&client, &endpoint, &bucket).await;
    assert_eq!(keys.iter().filter(|k| k.starts_with("uploads/")).count(), 2, "{keys:?}");

    let mut socket = connect(&app, &token).await;
    let response = app
        .post_json(
            "/api/tryon",
            &token,
            &json!({"person_upload_id": ids[0], "garment_upload_ids": [ids[1]], "category": "top"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let done = next_event_of(&mut socket, "job.succeeded").await;
    let result = app.client.get(app.url(done["data"]["result_url"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(result.status(), StatusCode::OK);
    image::load_from_memory(&result.bytes().await.unwrap()).expect("the stored result decodes");
    let keys = bucket_keys(&client, &endpoint, &bucket).await;
    assert_eq!(keys.iter().filter(|k| k.starts_with("results/")).count(), 1, "{keys:?}");
    assert_eq!(std::fs::read_dir(app.storage_dir.path()).unwrap().count(), 0, "nothing in the local folder");

    // Deleting the generation deletes its object.
    let id = done["data"]["generation_id"].as_str().unwrap();
    let deleted =
        app.client.delete(app.url(&format!("/api/generations/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let keys = bucket_keys(&client, &endpoint, &bucket).await;
    assert!(!keys.iter().any(|k| k.starts_with("results/")), "{keys:?}");
    moto.start_kill().ok();
}
