use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};

use crate::helpers::spawn_app_with;

/// A built Mini App as `scripts/build-frontend.sh` leaves it: every text file with `.br` and
/// `.gz` beside it (the contents here only need to differ to tell which one was served).
fn built_app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let assets = dir.path().join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    for (path, body) in [("index.html", "<!doctype html><title>app</title>"), ("assets/index-abc.js", "console.log(1)")]
    {
        let file = dir.path().join(path);
        std::fs::write(&file, body).unwrap();
        std::fs::write(format!("{}.br", file.display()), format!("br:{body}")).unwrap();
        std::fs::write(format!("{}.gz", file.display()), format!("gz:{body}")).unwrap();
    }
    dir
}

#[tokio::test]
async fn static_files_are_served_precompressed_in_the_best_encoding_the_client_accepts() {
    let dist = built_app();
    let path = dist.path().display().to_string();
    let app = spawn_app_with(|env| {
        env.insert("APP__SERVER__FRONTEND_DIR".into(), path);
    })
    .await;
    let get = |url: &str, encoding: &'static str| {
        let request = app.client.get(app.url(url));
        if encoding.is_empty() { request } else { request.header(ACCEPT_ENCODING, encoding) }.send()
    };

    for (accept, encoding, prefix) in [("br, gzip", "br", "br:"), ("gzip", "gzip", "gz:"), ("", "", "")] {
        let response = get("/assets/index-abc.js", accept).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{accept}");
        let headers = response.headers().clone();
        assert_eq!(headers.get(CONTENT_ENCODING).map(|v| v.to_str().unwrap()).unwrap_or(""), encoding, "{accept}");
        assert!(headers[CONTENT_TYPE].to_str().unwrap().contains("javascript"), "{accept}: {headers:?}");
        assert_eq!(headers[VARY], "accept-encoding");
        assert!(headers[CACHE_CONTROL].to_str().unwrap().contains("immutable"));
        assert_eq!(response.bytes().await.unwrap(), format!("{prefix}console.log(1)").as_bytes(), "{accept}");
    }

    // A client route (the payment return) is the app's index.html, compressed too, never cached.
    let response = get("/plans?payment=1&sig=2", "br").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_ENCODING], "br");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
    assert!(response.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert_eq!(response.text().await.unwrap(), "br:<!doctype html><title>app</title>");
}
