//! Micro-benchmarks of the hot pure functions (criterion): initData validation, JWT sign and
//! verify. `cargo bench --bench micro`.

use std::collections::HashMap;

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use primerka::auth::{init_data, jwt::JwtKeys};
use primerka::config::Settings;
use primerka::domain::ids::UserId;

fn settings() -> Settings {
    let env: HashMap<String, String> = HashMap::from([
        ("JWT_SECRET".into(), "bench-secret-bench-secret-bench-secret-00".into()),
        ("APP_ENV".into(), "test".into()),
    ]);
    Settings::from_env(&env, &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config")).expect("settings")
}

fn auth(c: &mut Criterion) {
    let secret = init_data::secret_key("1234567:bench-token");
    let now = chrono::Utc::now().timestamp();
    let user = serde_json::json!({"id": 279058397, "first_name": "Vladislav", "last_name": "Kibenko", "username": "vdkfrost", "language_code": "ru", "is_premium": true});
    let raw = init_data::sign_for_user(&user, now, &secret);
    c.bench_function("init_data_validate", |b| {
        b.iter(|| init_data::validate(black_box(&raw), &secret, now, 86_400, 60).expect("valid"))
    });

    let keys = JwtKeys::from_settings(&settings());
    c.bench_function("jwt_sign", |b| b.iter(|| keys.issue(black_box(UserId(279058397)), now)));
    let (token, _) = keys.issue(UserId(279058397), now);
    c.bench_function("jwt_verify", |b| b.iter(|| keys.verify(black_box(&token)).expect("valid")));
}

criterion_group!(benches, auth);
criterion_main!(benches);
