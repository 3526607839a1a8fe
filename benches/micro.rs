//! Micro-benchmarks of the hot pure functions (criterion): initData validation, JWT sign and
//! verify, upload validation of a ~5 MB JPEG, the watermark on a 1024×1024 result, and the
//! generator's handling of a 768×1024 result (the unchanged check, JPEG and PNG encoding).
//! `cargo bench --bench micro`.

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
    c.bench_function("jwt_sign", |b| b.iter(|| keys.issue(black_box(UserId(279058397)), now, 0)));
    let (token, _) = keys.issue(UserId(279058397), now, 0);
    c.bench_function("jwt_verify", |b| b.iter(|| keys.verify(black_box(&token)).expect("valid")));
}

fn images(c: &mut Criterion) {
    use primerka::domain::images::{ImageLimits, encode, validate_upload};
    use primerka::storage::ImageFormat;
    // A noisy 2600×1950 photo-like JPEG of about 5 MB (noise compresses badly, like real photos).
    let mut seed = 7u32;
    let noisy = image::RgbImage::from_fn(2600, 1950, |x, y| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        image::Rgb([(x % 256) as u8, (y % 256) as u8, (seed >> 24) as u8])
    });
    let jpeg = encode(&image::DynamicImage::ImageRgb8(noisy), ImageFormat::Jpeg).expect("encode");
    eprintln!("upload_validate input: {} bytes", jpeg.len());
    let limits = ImageLimits { max_side: 8192, max_pixels: 40_000_000, max_stored_side: 8192 };
    let mut group = c.benchmark_group("images");
    group.sample_size(10);
    group.bench_function("upload_validate_5mb_jpeg", |b| {
        b.iter(|| validate_upload("image/jpeg", black_box(&jpeg), limits).expect("valid"))
    });
    let font = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/fonts/DejaVuSans.ttf")).expect("font");
    let mark = primerka::domain::watermark::Watermark::new(font, "Primerka").expect("font loads");
    let result = image::DynamicImage::new_rgb8(1024, 1024);
    group.bench_function("watermark_1024", |b| b.iter(|| mark.apply(black_box(&result))));
    // A provider result as the generator handles it: 768×1024, checked against the input photo,
    // then encoded for storage (JPEG now; PNG before).
    let photo = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(768, 1024, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
    }));
    let person = photo.resize(300, 400, image::imageops::FilterType::Triangle);
    // What each format stores for a photo-like (noisy) result of that size.
    let mut seed = 11u32;
    let noisy_result = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(768, 1024, |x, y| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        image::Rgb([(x % 256) as u8, (y % 256) as u8, (seed >> 26) as u8 + 96])
    }));
    for format in [ImageFormat::Jpeg, ImageFormat::Png] {
        let bytes = encode(&noisy_result, format).expect("encode").len();
        eprintln!("a noisy 768×1024 result as {}: {bytes} bytes", format.extension());
    }
    group.bench_function("result_unchanged_check_768x1024", |b| {
        b.iter(|| primerka::domain::images::looks_unchanged(black_box(&person), black_box(&photo)))
    });
    group.bench_function("result_encode_jpeg_768x1024", |b| b.iter(|| encode(black_box(&photo), ImageFormat::Jpeg)));
    group.bench_function("result_encode_png_768x1024", |b| b.iter(|| encode(black_box(&photo), ImageFormat::Png)));
    group.finish();
}

criterion_group!(benches, auth, images);
criterion_main!(benches);
