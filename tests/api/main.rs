//! One integration-test binary: the real app over HTTP and WebSockets, a fresh PostgreSQL
//! database per test, the provider simulator on loopback.

mod actors;
mod auth;
mod bot;
mod chat;
mod clients;
mod cluster;
mod crash;
mod generations;
mod growth;
mod hardening;
mod health;
#[allow(dead_code)]
mod helpers;
mod hostile;
mod legal;
mod me;
mod payments;
mod sessions;
mod spa;
mod storage_s3;
mod tryon_quiz;
mod ws;
