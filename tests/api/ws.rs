use std::time::Duration;

use futures::{SinkExt, StreamExt};
use primerka::actors::session::ReserveCmd;
use primerka::domain::ids::UserId;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{TestApp, new_user_id, spawn_app, spawn_app_with};

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(app: &TestApp, token: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws?token={token}", app.port))
        .await
        .expect("socket connects");
    socket
}

/// The next JSON event (skipping pings), or panics after 10 s.
pub async fn next_event(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an event in time")
            .expect("socket open")
            .expect("frame");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("event JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Waits for an event of `kind`, skipping others.
pub async fn next_event_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let event = next_event(socket).await;
        if event["type"] == kind {
            return event;
        }
    }
}

async fn close_code(socket: &mut Socket) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("closes in time") {
            Some(Ok(Message::Close(Some(frame)))) => return Some(u16::from(frame.code)),
            Some(Ok(Message::Close(None))) | None => return None,
            Some(Ok(_)) => continue,
            Some(Err(_)) => return None,
        }
    }
}

#[tokio::test]
async fn a_socket_gets_the_balance_on_connect_and_on_every_change() {
    let app = spawn_app().await;
    let id = new_user_id();
    let token = app.login(id).await;
    let mut socket = connect(&app, &token).await;

    let first = next_event(&mut socket).await;
    assert_eq!(first["type"], "balance");
    assert_eq!(first["data"]["free"], 10);

    let session = app.actors.sessions.session(UserId(id));
    let hold = session
        .reserve(ReserveCmd {
            cost: 2,
            purpose: "tryon".into(),
            key: format!("test:{}", uuid::Uuid::new_v4()),
            generation_id: None,
        })
        .await
        .unwrap();
    let after_reserve = next_event_of(&mut socket, "balance").await;
    assert_eq!(after_reserve["data"]["free"], 8);

    session.release(hold.id, "generation_failed").await.unwrap();
    let after_release = next_event_of(&mut socket, "balance").await;
    assert_eq!(after_release["data"]["free"], 10);
}

#[tokio::test]
async fn a_bad_token_is_refused_before_the_upgrade() {
    let app = spawn_app().await;
    for url in [format!("ws://127.0.0.1:{}/ws?token=not-a-jwt", app.port), format!("ws://127.0.0.1:{}/ws", app.port)] {
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("expected an HTTP 401, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_server_answers_pings() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let mut socket = connect(&app, &token).await;
    next_event_of(&mut socket, "balance").await;
    socket.send(Message::Text(r#"{"type":"ping"}"#.into())).await.unwrap();
    assert_eq!(next_event(&mut socket).await["type"], "pong");
}

#[tokio::test]
async fn too_many_sockets_for_one_user_are_closed_cleanly() {
    let app = spawn_app_with(|env| {
        env.insert("APP__SESSIONS__MAX_SOCKETS_PER_USER".into(), "2".into());
    })
    .await;
    let token = app.login(new_user_id()).await;
    let mut a = connect(&app, &token).await;
    let mut b = connect(&app, &token).await;
    next_event_of(&mut a, "balance").await;
    next_event_of(&mut b, "balance").await;

    let mut c = connect(&app, &token).await;
    assert_eq!(close_code(&mut c).await, Some(4008));

    // Closing one frees a place.
    a.close(None).await.unwrap();
    let mut ok = false;
    for _ in 0..50 {
        let mut d = connect(&app, &token).await;
        let first = tokio::time::timeout(Duration::from_secs(5), d.next()).await.unwrap();
        if let Some(Ok(Message::Text(_))) = first {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "a socket fits again after one closed");
}

#[tokio::test]
async fn the_socket_closes_when_the_token_expires() {
    let app = spawn_app_with(|env| {
        env.insert("APP__AUTH__JWT_TTL_SECS".into(), "2".into());
    })
    .await;
    let token = app.login(new_user_id()).await;
    let mut socket = connect(&app, &token).await;
    next_event_of(&mut socket, "balance").await;
    let code = close_code(&mut socket).await;
    assert_eq!(code, Some(u16::from(CloseCode::Library(4001))));
}
