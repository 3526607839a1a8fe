//! Provider HTTP clients: the only code that uses reqwest. Each client makes one attempt
//! and classifies the failure (`is_retryable`); retries live with the caller that owns the
//! budget.

pub mod fetch;
pub mod kie;
pub mod openrouter;
pub mod telegram;
pub mod yookassa;

use std::time::Duration;

/// The settings every provider client shares: timeouts, a user agent, idle connections kept 60 s.
pub fn client_builder(user_agent: &str, connect_timeout: Duration, timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
}

/// The shared reqwest client (built at start-up): at most three redirects.
pub fn http_client(user_agent: &str, connect_timeout: Duration, timeout: Duration) -> reqwest::Client {
    client_builder(user_agent, connect_timeout, timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .expect("a reqwest client with static settings builds")
}
