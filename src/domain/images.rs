//! Upload checks (DESIGN §6): JPEG or PNG only, the declared type and the magic bytes must
//! agree, the image must decode within pixel limits (no decompression bombs), and metadata
//! (EXIF, GPS) is dropped by re-encoding. Pure and CPU-bound: callers run it in
//! `spawn_blocking`.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::domain::errors::ErrorCode;

/// What a stored object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        match key.rsplit_once('.')?.1 {
            "jpg" => Some(ImageFormat::Jpeg),
            "png" => Some(ImageFormat::Png),
            _ => None,
        }
    }
}

/// Limits applied before and while decoding.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    pub max_side: u32,
    pub max_pixels: u64,
    /// A larger upload is scaled down to this longer side before it is re-encoded and stored:
    /// no provider uses more, and a full-size copy would double the memory of a decode.
    pub max_stored_side: u32,
}

/// Why an upload was refused; each maps to a localised error code.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("only JPEG and PNG are accepted")]
    UnsupportedType,
    #[error("the declared type does not match the file's content")]
    TypeMismatch,
    #[error("the image is larger than allowed")]
    TooManyPixels,
    #[error("the file is not a readable image")]
    Undecodable,
    #[error("the image data ends before the picture does")]
    Truncated,
    #[error("the photo is too small")]
    TooSmall,
    #[error("the photo is too dark or washed out")]
    TooDark,
    #[error("the photo is too blurry")]
    TooBlurry,
}

impl ImageError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ImageError::UnsupportedType => ErrorCode::UnsupportedType,
            ImageError::TypeMismatch => ErrorCode::TypeMismatch,
            ImageError::TooManyPixels => ErrorCode::TooManyPixels,
            ImageError::Undecodable => ErrorCode::CorruptImage,
            ImageError::Truncated => ErrorCode::DecodeFailed,
            ImageError::TooSmall => ErrorCode::TooSmall,
            ImageError::TooDark => ErrorCode::TooDark,
            ImageError::TooBlurry => ErrorCode::TooBlurry,
        }
    }
}

/// A checked, re-encoded image.
#[derive(Debug)]
pub struct CleanImage {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// The format the magic bytes say.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    match infer::get(bytes)?.mime_type() {
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/png" => Some(ImageFormat::Png),
        _ => None,
    }
}

fn declared_format(declared: &str) -> Option<ImageFormat> {
    match declared.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(ImageFormat::Jpeg),
        "image/png" => Some(ImageFormat::Png),
        _ => None,
    }
}

/// Checks an upload and re-encodes it in its own format without metadata.
pub fn validate_upload(declared: &str, bytes: &[u8], limits: ImageLimits) -> Result<CleanImage, ImageError> {
    validate_upload_keeping(declared, bytes, limits).map(|(clean, _)| clean)
}

/// [`validate_upload`], also handing back the pixels it encoded (the photo checks read them
/// instead of decoding the stored bytes again).
pub fn validate_upload_keeping(
    declared: &str,
    bytes: &[u8],
    limits: ImageLimits,
) -> Result<(CleanImage, DynamicImage), ImageError> {
    let declared = declared_format(declared).ok_or(ImageError::UnsupportedType)?;
    if bytes.is_empty() {
        return Err(ImageError::Undecodable);
    }
    // A JPEG/PNG by name whose bytes are something else (a PDF, a script, a GIF) is a mismatch.
    let actual = sniff(bytes).ok_or(ImageError::TypeMismatch)?;
    if declared != actual {
        return Err(ImageError::TypeMismatch);
    }
    // A JPEG cut in its scan decodes "successfully" with the missing rows filled grey; refuse
    // it before anyone pays for a try-on on half a photo.
    if actual == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(ImageError::Truncated);
    }
    let mut image = decode_limited(bytes, actual, limits)?;
    if image.width().max(image.height()) > limits.max_stored_side {
        // `thumbnail` averages straight into the small buffer (a filtered `resize` would hold a
        // float copy of the whole width first); the full-size pixels are freed right after.
        let side = limits.max_stored_side.max(1);
        image = image.thumbnail(side, side);
    }
    let bytes = encode(&image, actual).map_err(|_| ImageError::Undecodable)?;
    Ok((CleanImage { bytes, format: actual, width: image.width(), height: image.height() }, image))
}

/// Whether a JPEG's last scan is followed by its end-of-image marker. Inside entropy-coded
/// data a 0xFF byte is always followed by 0x00 or a restart marker, so the last `FF DA`
/// (start of scan) in the file is the last scan's header, and a complete file has an `FF D9`
/// after it (an embedded EXIF thumbnail's markers come before it; trailers after it are fine).
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(at) => bytes[at + 2..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

/// What a try-on photo shows: the person, or an item to try on (a shop screenshot works).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoKind {
    Person,
    Garment,
}

impl PhotoKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "person" => Some(PhotoKind::Person),
            "garment" => Some(PhotoKind::Garment),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PhotoKind::Person => "person",
            PhotoKind::Garment => "garment",
        }
    }
}

/// Thresholds of the photo checks (`storage.photo_checks`; docs/API.md "Photo checks").
/// Luminance is the mean of Rec. 601 luma (0–255); sharpness is the variance of the 4-neighbour
/// Laplacian; both are measured on the photo scaled to [`STATS_SIDE`] px on its long side.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoChecks {
    pub refuse_min_side: u32,
    pub warn_min_side: u32,
    pub refuse_dark_luma: f64,
    pub warn_dark_luma: f64,
    pub refuse_bright_luma: f64,
    pub warn_bright_luma: f64,
    pub refuse_blur_variance: f64,
    pub warn_blur_variance: f64,
}

/// The long side the statistics are measured at (independent of the camera's resolution).
pub const STATS_SIDE: u32 = 512;

/// Simple statistics of a photo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhotoStats {
    pub short_side: u32,
    pub mean_luma: f64,
    pub laplacian_variance: f64,
}

pub fn photo_stats(image: &DynamicImage) -> PhotoStats {
    let short_side = image.width().min(image.height());
    let small = if image.width().max(image.height()) > STATS_SIDE {
        image.resize(STATS_SIDE, STATS_SIDE, image::imageops::FilterType::Triangle)
    } else {
        image.clone()
    };
    let luma = small.to_luma8();
    let (w, h) = luma.dimensions();
    let n = f64::from(w) * f64::from(h);
    let mean_luma = luma.pixels().map(|p| f64::from(p[0])).sum::<f64>() / n.max(1.0);
    let (mut sum, mut sum_sq, mut count) = (0.0f64, 0.0f64, 0.0f64);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let at =
                |dx: i64, dy: i64| f64::from(luma.get_pixel((i64::from(x) + dx) as u32, (i64::from(y) + dy) as u32)[0]);
            let lap = at(-1, 0) + at(1, 0) + at(0, -1) + at(0, 1) - 4.0 * at(0, 0);
            sum += lap;
            sum_sq += lap * lap;
            count += 1.0;
        }
    }
    let laplacian_variance = if count > 0.0 { sum_sq / count - (sum / count).powi(2) } else { 0.0 };
    PhotoStats { short_side, mean_luma, laplacian_variance }
}

/// Checks a try-on photo: refuses what cannot work, and returns warnings (`small`, `dark`,
/// `bright`, `blurry`) for what may work worse. A garment photo (often a shop screenshot on
/// white, sometimes a flat product shot) is refused only when too small or too dark.
pub fn check_photo(
    image: &DynamicImage,
    kind: PhotoKind,
    checks: &PhotoChecks,
) -> Result<Vec<&'static str>, ImageError> {
    let stats = photo_stats(image);
    let person = kind == PhotoKind::Person;
    if stats.short_side < checks.refuse_min_side {
        return Err(ImageError::TooSmall);
    }
    if stats.mean_luma < checks.refuse_dark_luma || (person && stats.mean_luma > checks.refuse_bright_luma) {
        return Err(ImageError::TooDark);
    }
    if person && stats.laplacian_variance < checks.refuse_blur_variance {
        return Err(ImageError::TooBlurry);
    }
    let mut warnings = Vec::new();
    if stats.short_side < checks.warn_min_side {
        warnings.push("small");
    }
    if stats.mean_luma < checks.warn_dark_luma {
        warnings.push("dark");
    }
    if stats.mean_luma > checks.warn_bright_luma {
        warnings.push("bright");
    }
    if stats.laplacian_variance < checks.warn_blur_variance {
        warnings.push("blurry");
    }
    Ok(warnings)
}

/// The aspect ratios kie.ai's `google/nano-banana-edit` takes for `image_size`
/// (contracts/kie-ai.md), as (name, width / height).
pub const ASPECT_RATIOS: &[(&str, f64)] = &[
    ("21:9", 21.0 / 9.0),
    ("16:9", 16.0 / 9.0),
    ("3:2", 3.0 / 2.0),
    ("4:3", 4.0 / 3.0),
    ("5:4", 5.0 / 4.0),
    ("1:1", 1.0),
    ("4:5", 4.0 / 5.0),
    ("3:4", 3.0 / 4.0),
    ("2:3", 2.0 / 3.0),
    ("9:16", 9.0 / 16.0),
];

/// The listed ratio nearest to `width × height` (compared on a log scale, so 2:1 and 1:2 are
/// equally far from 1:1).
pub fn nearest_aspect_ratio(width: u32, height: u32) -> &'static str {
    if width == 0 || height == 0 {
        return "3:4";
    }
    let target = (f64::from(width) / f64::from(height)).ln();
    ASPECT_RATIOS
        .iter()
        .min_by(|a, b| (a.1.ln() - target).abs().total_cmp(&(b.1.ln() - target).abs()))
        .map_or("3:4", |(name, _)| name)
}

/// The dimensions in an image's header (no full decode).
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?.into_dimensions().ok()
}

/// Decodes after checking the header's dimensions, with an allocation cap.
pub fn decode_limited(bytes: &[u8], format: ImageFormat, limits: ImageLimits) -> Result<DynamicImage, ImageError> {
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(match format {
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Png => image::ImageFormat::Png,
    });
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(|e| classify(&e))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(ImageError::Undecodable);
    }
    if w > limits.max_side || h > limits.max_side || u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(ImageError::TooManyPixels);
    }
    // Phones store portrait photos sideways with an EXIF orientation; the metadata is dropped
    // on re-encoding, so the rotation is applied to the pixels first.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| classify(&e))?;
    image.apply_orientation(orientation);
    Ok(image)
}

fn classify(e: &image::ImageError) -> ImageError {
    match e {
        image::ImageError::Limits(_) => ImageError::TooManyPixels,
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => ImageError::Truncated,
        _ => ImageError::Undecodable,
    }
}

/// Encodes (JPEG at quality 90, or PNG); the encoders write no EXIF.
pub fn encode(image: &DynamicImage, format: ImageFormat) -> image::ImageResult<Vec<u8>> {
    match format {
        // jpeg-encoder (SIMD) is several times faster than the image crate's own encoder. An RGB
        // image (every decoded JPEG) is encoded in place; others are converted.
        ImageFormat::Jpeg => encode_jpeg(&as_rgb(image), JPEG_STRIPS),
        ImageFormat::Png => {
            let mut out = Vec::new();
            image.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)?;
            Ok(out)
        }
    }
}

/// The picture as 8-bit RGB: borrowed when it is already, converted otherwise.
fn as_rgb(image: &DynamicImage) -> std::borrow::Cow<'_, image::RgbImage> {
    match image.as_rgb8() {
        Some(rgb) => std::borrow::Cow::Borrowed(rgb),
        None => std::borrow::Cow::Owned(image.to_rgb8()),
    }
}

/// Horizontal strips a large picture's JPEG is encoded in at once (one per core of the machine
/// this runs on in production: two).
const JPEG_STRIPS: usize = 2;

/// JPEG quality of everything the service writes (uploads it normalises, results, watermarked
/// copies).
const JPEG_QUALITY: u8 = 90;

/// Rows of pixels in one MCU at 4:2:0 chroma.
const MCU_SIDE: usize = 16;

fn encoding_error(e: impl std::error::Error + Send + Sync + 'static) -> image::ImageError {
    image::ImageError::Encoding(image::error::EncodingError::new(image::ImageFormat::Jpeg.into(), e))
}

/// One baseline JPEG (quality 90, 4:2:0), written by jpeg-encoder with `restart_interval` MCUs
/// between restart markers (0: none).
fn encode_jpeg_strip(rgb: &[u8], width: u16, height: u16, restart_interval: u16) -> image::ImageResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY);
    // Chroma at half resolution (4:2:0), as cameras and libjpeg store photos: the encoder's own
    // choice at quality 90 is full-resolution chroma (4:4:4), half again as much data to
    // transform and code for no difference visible in a photo.
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.set_restart_interval(restart_interval);
    encoder.encode(rgb, width, height, jpeg_encoder::ColorType::Rgb).map_err(encoding_error)?;
    Ok(out)
}

/// Encodes `rgb` as one JPEG, in up to `strips` horizontal strips at once for a large picture.
///
/// Every strip is a whole number of MCU rows, encoded with the same tables and a restart marker
/// after every MCU row (which resets the DC prediction, so a strip needs nothing from the one
/// above it); the strips' scans are then joined into one, each restart marker renumbered to its
/// place in the whole picture, under the first strip's headers with the full height. The decoded
/// pixels are exactly those of a single-threaded encode (tested); the file is a few hundred
/// bytes larger (two bytes per MCU row).
fn encode_jpeg(rgb: &image::RgbImage, strips: usize) -> image::ImageResult<Vec<u8>> {
    let (Ok(width), Ok(height)) = (u16::try_from(rgb.width()), u16::try_from(rgb.height())) else {
        return Err(image::ImageError::Limits(image::error::LimitError::from_kind(
            image::error::LimitErrorKind::DimensionError,
        )));
    };
    let mcu_rows = usize::from(height).div_ceil(MCU_SIDE);
    let mcus_per_row = usize::from(width).div_ceil(MCU_SIDE);
    // Small pictures are not worth a thread. (A row has at most 65535 / 16 MCUs: the interval
    // always fits.)
    let strips = strips.min(mcu_rows / 8);
    let (true, Ok(interval)) = (strips >= 2 && width > 0, u16::try_from(mcus_per_row)) else {
        return encode_jpeg_strip(rgb.as_raw(), width, height, 0);
    };
    let row_bytes = usize::from(width) * 3;
    // MCU rows per strip, the first strips taking the remainder.
    let bounds: Vec<(usize, usize)> = (0..strips)
        .map(|i| {
            let first = i * mcu_rows / strips;
            let end = (i + 1) * mcu_rows / strips;
            (first, end)
        })
        .collect();
    let encode_strip = |&(first, end): &(usize, usize)| {
        let top = first * MCU_SIDE;
        let bottom = (end * MCU_SIDE).min(usize::from(height));
        let rows = u16::try_from(bottom - top).map_err(encoding_error)?;
        encode_jpeg_strip(&rgb.as_raw()[top * row_bytes..bottom * row_bytes], width, rows, interval)
    };
    let parts: Vec<image::ImageResult<Vec<u8>>> = std::thread::scope(|scope| {
        let others: Vec<_> = bounds[1..].iter().map(|b| scope.spawn(move || encode_strip(b))).collect();
        let mut parts = vec![encode_strip(&bounds[0])];
        parts.extend(others.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(encoding_error(StripPanicked)))));
        parts
    });
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.as_ref().map_or(0, Vec::len)).sum());
    for (i, part) in parts.into_iter().enumerate() {
        let part = part?;
        let (sof, scan) = jpeg_layout(&part).ok_or_else(|| encoding_error(StripUnreadable))?;
        let data = &part[scan..part.len() - 2];
        let rows_before = bounds[i].0;
        if i == 0 {
            out.extend_from_slice(&part[..scan]);
            // SOF0: FF C0, length (2), precision (1), then the height.
            out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
            out.extend_from_slice(data);
        } else {
            // The marker before MCU row g of the whole picture is RST((g - 1) mod 8).
            out.extend_from_slice(&[0xFF, 0xD0 + ((rows_before - 1) % 8) as u8]);
            let start = out.len();
            out.extend_from_slice(data);
            let mut k = start;
            while k + 1 < out.len() {
                if out[k] == 0xFF && (0xD0..=0xD7).contains(&out[k + 1]) {
                    out[k + 1] = 0xD0 + ((usize::from(out[k + 1] - 0xD0) + rows_before) % 8) as u8;
                    k += 2;
                } else {
                    k += 1;
                }
            }
        }
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
#[error("a JPEG strip's encoder panicked")]
struct StripPanicked;

#[derive(Debug, thiserror::Error)]
#[error("a JPEG strip came out without a frame header or a scan")]
struct StripUnreadable;

/// Where a baseline JPEG's frame header (SOF0) starts and its entropy-coded scan data begins.
fn jpeg_layout(jpeg: &[u8]) -> Option<(usize, usize)> {
    if jpeg.len() < 4 || jpeg[..2] != [0xFF, 0xD8] || jpeg[jpeg.len() - 2..] != [0xFF, 0xD9] {
        return None;
    }
    let mut at = 2;
    let mut sof = None;
    loop {
        let (marker, len) =
            (*jpeg.get(at + 1)?, usize::from(u16::from_be_bytes([*jpeg.get(at + 2)?, *jpeg.get(at + 3)?])));
        if jpeg[at] != 0xFF {
            return None;
        }
        match marker {
            0xC0 => sof = Some(at),
            // Not baseline: progressive, arithmetic or another process this join does not know.
            0xC1..=0xCF if marker != 0xC4 && marker != 0xCC => return None,
            0xDA => return Some((sof?, at + 2 + len)),
            _ => {}
        }
        at += 2 + len;
    }
}

/// Cells per side of a [`Fingerprint`].
const PRINT_SIDE: usize = 64;

/// What [`looks_unchanged`] compares: a picture's aspect ratio and the mean colour of each of
/// 64×64 cells. An area average, so a rescaled or re-encoded copy has nearly the same one; one
/// pass over the pixels (a filtered resize of a large photo cost several times more).
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    aspect: f64,
    cells: Vec<[u8; 3]>,
}

pub fn fingerprint(image: &DynamicImage) -> Fingerprint {
    let rgb = as_rgb(image);
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w == 0 || h == 0 {
        return Fingerprint { aspect: 0.0, cells: Vec::new() };
    }
    // Exact area averaging: a pixel straddling two cells counts in each by its overlap, so a
    // sharp edge weighs the same in a cell whatever the picture's size.
    let spans = |n: usize| -> Vec<Vec<(usize, f32)>> {
        let scale = PRINT_SIDE as f64 / n as f64;
        (0..n)
            .map(|i| {
                let (from, to) = (i as f64 * scale, (i + 1) as f64 * scale);
                let mut parts = Vec::with_capacity(2);
                let mut cell = from.floor() as usize;
                while (cell as f64) < to && cell < PRINT_SIDE {
                    let overlap = to.min(cell as f64 + 1.0) - from.max(cell as f64);
                    if overlap > 0.0 {
                        parts.push((cell, overlap as f32));
                    }
                    cell += 1;
                }
                parts
            })
            .collect()
    };
    let (columns, rows) = (spans(w), spans(h));
    let mut sums = vec![[0f32; 3]; PRINT_SIDE * PRINT_SIDE];
    let mut row_sums = vec![[0f32; 3]; PRINT_SIDE];
    for (row, row_parts) in rgb.as_raw().chunks_exact(w * 3).zip(&rows) {
        row_sums.fill([0.0; 3]);
        for (pixel, parts) in row.chunks_exact(3).zip(&columns) {
            for &(cell, weight) in parts {
                let sum = &mut row_sums[cell];
                sum[0] += f32::from(pixel[0]) * weight;
                sum[1] += f32::from(pixel[1]) * weight;
                sum[2] += f32::from(pixel[2]) * weight;
            }
        }
        for &(cell_row, weight) in row_parts {
            for (sum, row_sum) in sums[cell_row * PRINT_SIDE..][..PRINT_SIDE].iter_mut().zip(&row_sums) {
                for c in 0..3 {
                    sum[c] += row_sum[c] * weight;
                }
            }
        }
    }
    // Each cell covers exactly one unit of cell area.
    let cells = sums.iter().map(|s| s.map(|v| v.round().clamp(0.0, 255.0) as u8)).collect();
    Fingerprint { aspect: w as f64 / h as f64, cells }
}

impl Fingerprint {
    /// Whether `other` is this picture handed back (perhaps re-encoded or rescaled) rather than
    /// an edit: same shape, and cells that differ nowhere by more than re-encoding noise. A real
    /// edit, even a small one such as glasses, changes some cell clearly.
    pub fn same_picture(&self, other: &Fingerprint) -> bool {
        let full = PRINT_SIDE * PRINT_SIDE;
        if (self.aspect / other.aspect - 1.0).abs() > 0.02 || self.cells.len() != full || other.cells.len() != full {
            return false;
        }
        let mut total = 0u64;
        for (p, q) in self.smoothed().iter().zip(&other.smoothed()) {
            for c in 0..3 {
                let d = p[c].abs_diff(q[c]);
                if d > 12 {
                    return false;
                }
                total += u64::from(d);
            }
        }
        total as f64 / (self.cells.len() as f64 * 3.0) < 1.5
    }
}

impl Fingerprint {
    /// The cells averaged with their neighbours (3×3): a sharp edge that chroma subsampling and
    /// re-encoding moved by a pixel changes a cell, not its neighbourhood.
    fn smoothed(&self) -> Vec<[u8; 3]> {
        let n = PRINT_SIDE as isize;
        (0..n * n)
            .map(|i| {
                let (x, y) = (i % n, i / n);
                let mut sum = [0u32; 3];
                let mut count = 0u32;
                for (nx, ny) in (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (x + dx, y + dy))) {
                    if (0..n).contains(&nx) && (0..n).contains(&ny) {
                        let cell = self.cells[(ny * n + nx) as usize];
                        for c in 0..3 {
                            sum[c] += u32::from(cell[c]);
                        }
                        count += 1;
                    }
                }
                sum.map(|v| ((v + count / 2) / count) as u8)
            })
            .collect()
    }
}

/// Whether `after` is `before` handed back (see [`Fingerprint::same_picture`]).
pub fn looks_unchanged(before: &DynamicImage, after: &DynamicImage) -> bool {
    fingerprint(before).same_picture(&fingerprint(after))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ImageLimits = ImageLimits { max_side: 4096, max_pixels: 4_000_000, max_stored_side: 4096 };

    fn png(w: u32, h: u32) -> Vec<u8> {
        encode(&DynamicImage::new_rgb8(w, h), ImageFormat::Png).unwrap()
    }

    fn jpeg_with_exif(w: u32, h: u32) -> Vec<u8> {
        let plain = encode(&DynamicImage::new_rgb8(w, h), ImageFormat::Jpeg).unwrap();
        // Insert an APP1 "Exif" segment (with a fake GPS tag text) right after SOI.
        let payload = b"Exif\0\0GPS-55.7558N-37.6173E";
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&plain[2..]);
        out
    }

    #[test]
    fn a_jpeg_encoded_in_strips_decodes_to_exactly_the_single_threaded_pixels() {
        // Photo-like detail, sizes that are and are not whole MCUs, strips that do and do not
        // split evenly, and more restart markers than the eight numbers they cycle through.
        for (w, h, strips) in [(768, 1024, 2), (767, 1001, 2), (1000, 333, 3), (64, 1200, 4), (1024, 768, 2)] {
            let picture = image::RgbImage::from_fn(w, h, |x, y| {
                let noise = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)).wrapping_mul(2_654_435_761) >> 24;
                image::Rgb([(x % 256) as u8, (y * 3 % 256) as u8, noise as u8])
            });
            let whole = encode_jpeg(&picture, 1).unwrap();
            let joined = encode_jpeg(&picture, strips).unwrap();
            assert_ne!(whole, joined, "{w}×{h}: the strips were used");
            let a = image::load_from_memory(&whole).unwrap().to_rgb8();
            let b = image::load_from_memory(&joined).unwrap().to_rgb8();
            assert_eq!((b.width(), b.height()), (w, h));
            assert!(a.as_raw() == b.as_raw(), "{w}×{h} in {strips} strips: the same pixels");
            // The image crate's strict JPEG check agrees: a complete, well-formed scan.
            assert!(decode_limited(&joined, ImageFormat::Jpeg, LIMITS).is_ok());
        }
        // Small pictures are encoded whole.
        let small = image::RgbImage::from_fn(120, 90, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8]));
        assert_eq!(encode_jpeg(&small, 2).unwrap(), encode_jpeg(&small, 1).unwrap());
    }

    #[test]
    fn an_image_handed_back_is_unchanged_and_a_small_edit_is_not() {
        let mut photo = image::RgbImage::new(300, 400);
        for (x, y, p) in photo.enumerate_pixels_mut() {
            *p = image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8]);
        }
        let photo = DynamicImage::ImageRgb8(photo);
        // The same photo re-encoded as JPEG and scaled up, as a provider might return it.
        let jpeg = encode(&photo, ImageFormat::Jpeg).unwrap();
        let back = decode_limited(&jpeg, ImageFormat::Jpeg, LIMITS).unwrap().resize_exact(
            600,
            800,
            image::imageops::FilterType::Triangle,
        );
        assert!(looks_unchanged(&photo, &back));
        // Rescaled by factors that do not divide the cells evenly, up and down.
        for (w, h) in [(768, 1024), (225, 300), (333, 444)] {
            let scaled = photo.resize_exact(w, h, image::imageops::FilterType::CatmullRom);
            assert!(looks_unchanged(&photo, &scaled), "{w}×{h}");
        }
        // A small dark square (sunglasses-sized) is a change.
        let mut edited = photo.to_rgb8();
        for x in 120..180 {
            for y in 90..110 {
                edited.put_pixel(x, y, image::Rgb([10, 10, 10]));
            }
        }
        assert!(!looks_unchanged(&photo, &DynamicImage::ImageRgb8(edited)));
        // A different shape is a different picture.
        assert!(!looks_unchanged(&photo, &photo.resize_exact(400, 400, image::imageops::FilterType::Triangle)));
    }

    pub(crate) const CHECKS: PhotoChecks = PhotoChecks {
        refuse_min_side: 512,
        warn_min_side: 768,
        refuse_dark_luma: 35.0,
        warn_dark_luma: 70.0,
        refuse_bright_luma: 245.0,
        warn_bright_luma: 225.0,
        refuse_blur_variance: 12.0,
        warn_blur_variance: 60.0,
    };

    /// A "photo" with detail everywhere: a fine checker pattern over a gradient at `level`.
    fn detailed(w: u32, h: u32, level: u8) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            let edge = if (x / 3 + y / 3) % 2 == 0 { 40i32 } else { -40 };
            let v = (i32::from(level) + edge + ((x + y) % 16) as i32 - 8).clamp(0, 255) as u8;
            image::Rgb([v, v, v])
        }))
    }

    #[test]
    fn photo_checks_refuse_what_cannot_work_and_warn_about_the_rest() {
        assert_eq!(check_photo(&detailed(800, 1000, 128), PhotoKind::Person, &CHECKS), Ok(vec![]));
        assert_eq!(check_photo(&detailed(300, 400, 128), PhotoKind::Person, &CHECKS), Err(ImageError::TooSmall));
        assert_eq!(check_photo(&detailed(600, 800, 128), PhotoKind::Person, &CHECKS), Ok(vec!["small"]));
        assert_eq!(check_photo(&detailed(800, 1000, 5), PhotoKind::Person, &CHECKS), Err(ImageError::TooDark));
        let blurred = detailed(800, 1000, 128).blur(12.0);
        assert_eq!(check_photo(&blurred, PhotoKind::Person, &CHECKS), Err(ImageError::TooBlurry));
        // An item on white: no refusal for a garment, a warning only.
        let white = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(800, 800, image::Rgb([252, 252, 252])));
        assert_eq!(check_photo(&white, PhotoKind::Person, &CHECKS), Err(ImageError::TooDark));
        assert_eq!(check_photo(&white, PhotoKind::Garment, &CHECKS), Ok(vec!["bright", "blurry"]));
    }

    #[test]
    fn the_nearest_aspect_ratio_follows_the_main_input() {
        assert_eq!(nearest_aspect_ratio(1200, 1600), "3:4");
        assert_eq!(nearest_aspect_ratio(1600, 900), "16:9");
        assert_eq!(nearest_aspect_ratio(1000, 1000), "1:1");
        assert_eq!(nearest_aspect_ratio(1080, 1920), "9:16");
        assert_eq!(nearest_aspect_ratio(1500, 1000), "3:2");
        assert_eq!(nearest_aspect_ratio(0, 10), "3:4");
    }

    #[test]
    fn accepts_png_and_jpeg() {
        let clean = validate_upload("image/png", &png(20, 10), LIMITS).unwrap();
        assert_eq!((clean.format, clean.width, clean.height), (ImageFormat::Png, 20, 10));
        let clean = validate_upload("image/jpeg", &jpeg_with_exif(16, 16), LIMITS).unwrap();
        assert_eq!(clean.format, ImageFormat::Jpeg);
    }

    #[test]
    fn strips_exif() {
        let input = jpeg_with_exif(16, 16);
        assert!(input.windows(4).any(|w| w == b"Exif"));
        let clean = validate_upload("image/jpeg", &input, LIMITS).unwrap();
        assert!(!clean.bytes.windows(4).any(|w| w == b"Exif"));
        assert!(!clean.bytes.windows(3).any(|w| w == b"GPS"));
    }

    #[test]
    fn refuses_mismatch_and_other_types() {
        assert_eq!(validate_upload("image/jpeg", &png(4, 4), LIMITS).unwrap_err(), ImageError::TypeMismatch);
        assert_eq!(validate_upload("image/gif", &png(4, 4), LIMITS).unwrap_err(), ImageError::UnsupportedType);
        assert_eq!(validate_upload("image/png", b"GIF89a....", LIMITS).unwrap_err(), ImageError::TypeMismatch);
        assert_eq!(validate_upload("image/jpeg", b"%PDF-1.4 renamed", LIMITS).unwrap_err(), ImageError::TypeMismatch);
        assert_eq!(validate_upload("image/jpeg", b"", LIMITS).unwrap_err(), ImageError::Undecodable);
        assert_eq!(validate_upload("image/png", b"not an image at all", LIMITS).unwrap_err(), ImageError::TypeMismatch);
    }

    #[test]
    fn applies_the_exif_orientation_before_stripping_it() {
        // 40×30 pixels stored sideways with orientation 6 ("rotate 90° clockwise to view").
        let plain = encode(&DynamicImage::new_rgb8(40, 30), ImageFormat::Jpeg).unwrap();
        let mut tiff = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".to_vec();
        tiff.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00]);
        tiff.extend_from_slice(&[0, 0, 0, 0]);
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
        jpeg.extend_from_slice(&((tiff.len() + 2) as u16).to_be_bytes());
        jpeg.extend_from_slice(&tiff);
        jpeg.extend_from_slice(&plain[2..]);
        let clean = validate_upload("image/jpeg", &jpeg, LIMITS).unwrap();
        assert_eq!((clean.width, clean.height), (30, 40), "upright now");
        assert!(!clean.bytes.windows(4).any(|w| w == b"Exif"));
    }

    #[test]
    fn refuses_truncated_images() {
        let bytes = png(64, 64);
        assert_eq!(validate_upload("image/png", &bytes[..bytes.len() / 2], LIMITS).unwrap_err(), ImageError::Truncated);
    }

    #[test]
    fn refuses_a_jpeg_cut_in_its_scan_and_keeps_a_whole_one() {
        let mut photo = image::RgbImage::new(64, 48);
        for (x, y, p) in photo.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8]);
        }
        let jpeg = encode(&DynamicImage::ImageRgb8(photo), ImageFormat::Jpeg).unwrap();
        assert!(jpeg_is_complete(&jpeg));
        let cut = &jpeg[..jpeg.len() * 2 / 3];
        assert!(!jpeg_is_complete(cut));
        assert_eq!(validate_upload("image/jpeg", cut, LIMITS).unwrap_err(), ImageError::Truncated);
        assert_eq!(ImageError::Truncated.code(), ErrorCode::DecodeFailed);
        // Bytes after the end-of-image marker (some phones append a trailer) are harmless.
        let mut trailer = jpeg.clone();
        trailer.extend_from_slice(b"SEFT trailer");
        assert!(validate_upload("image/jpeg", &trailer, LIMITS).is_ok());
        // An EXIF thumbnail's own complete scan does not hide a cut main image.
        let mut with_thumb = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 0xFF, 0xDA, 0xFF, 0xD9];
        with_thumb.extend_from_slice(&cut[2..]);
        assert!(!jpeg_is_complete(&with_thumb));
    }

    #[test]
    fn scales_a_large_photo_down_to_the_stored_side() {
        let limits = ImageLimits { max_stored_side: 100, ..LIMITS };
        let clean = validate_upload("image/png", &png(400, 200), limits).unwrap();
        assert_eq!((clean.width, clean.height), (100, 50));
        let clean = validate_upload("image/png", &png(80, 60), limits).unwrap();
        assert_eq!((clean.width, clean.height), (80, 60), "a small photo is kept as it is");
    }

    #[test]
    fn refuses_decompression_bombs_before_decoding() {
        // 9 MP of one colour compresses to a few KB but is over the 4 MP limit of this test.
        let bomb = encode(&DynamicImage::new_luma8(3000, 3000), ImageFormat::Png).unwrap();
        assert_eq!(validate_upload("image/png", &bomb, LIMITS).unwrap_err(), ImageError::TooManyPixels);
        let tall = png(10, 5000);
        assert_eq!(validate_upload("image/png", &tall, LIMITS).unwrap_err(), ImageError::TooManyPixels);
    }
}
