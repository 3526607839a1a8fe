//! Where the person is in a try-on photo. A frontal-face detector (SeetaFace's funnel-structured
//! cascade, the `rustface` crate, model `assets/models/seeta_fd_frontal_v1.0.bin`, BSD-2) finds
//! the faces on a grey copy of the photo at most [`DETECT_SIDE`] px on its long side; a few rules
//! read them (docs/API.md "Photo checks"). They only warn: a photo from behind or in profile has
//! no frontal face and may still work. Pure; callers run it in `spawn_blocking`.

use image::DynamicImage;

/// The long side the detector works at (faces of a full-body photo stay ≥ 24 px).
pub const DETECT_SIDE: u32 = 640;
/// The smallest face looked for, px at [`DETECT_SIDE`].
const MIN_FACE: u32 = 24;
/// The detector's score a face must reach (its own scale; 2.0 is the upstream example's).
const MIN_SCORE: f64 = 2.0;
/// A second face at least this fraction of the largest one's height is a second person (not a
/// face on a T-shirt print or a poster far behind).
const SECOND_PERSON: f64 = 0.5;
/// The head is cut when the face's box starts within this fraction of the height from the top.
const HEAD_MARGIN: f64 = 0.02;
/// A close-up: the face is taller than this fraction of the photo, so the body is out of frame.
const CLOSE_UP: f64 = 0.35;
/// The body is out of frame when the face's centre is lower than this fraction of the height.
const FACE_TOO_LOW: f64 = 0.5;

/// The loaded detector model (cloned into a detector per photo: detecting needs `&mut`).
pub struct FaceModel(rustface::Model);

impl FaceModel {
    pub fn from_bytes(bytes: &[u8]) -> std::io::Result<Self> {
        rustface::read_model(bytes).map(FaceModel)
    }
}

/// A face, as fractions of the photo's width and height (0..1 from the top left).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub score: f64,
}

/// The frontal faces in `image`, largest first.
pub fn find_faces(model: &FaceModel, image: &DynamicImage) -> Vec<Face> {
    let small = if image.width().max(image.height()) > DETECT_SIDE {
        image.resize(DETECT_SIDE, DETECT_SIDE, image::imageops::FilterType::Triangle)
    } else {
        image.clone()
    };
    let grey = small.to_luma8();
    let (w, h) = grey.dimensions();
    if w < MIN_FACE || h < MIN_FACE {
        return Vec::new();
    }
    let mut detector = rustface::create_detector_with_model(model.0.clone());
    detector.set_min_face_size(MIN_FACE);
    detector.set_score_thresh(MIN_SCORE);
    detector.set_pyramid_scale_factor(0.8);
    detector.set_slide_window_step(4, 4);
    let data = rustface::ImageData::new(grey.as_raw(), w, h);
    let (fw, fh) = (f64::from(w), f64::from(h));
    let mut faces: Vec<Face> = detector
        .detect(&data)
        .into_iter()
        .map(|f| {
            let b = f.bbox();
            Face {
                x: f64::from(b.x()) / fw,
                y: f64::from(b.y()) / fh,
                w: f64::from(b.width()) / fw,
                h: f64::from(b.height()) / fh,
                score: f.score(),
            }
        })
        .collect();
    faces.sort_by(|a, b| b.h.total_cmp(&a.h));
    faces
}

/// What the faces say about a person photo's framing: `several_people` (a second face nearly as
/// large), `cut_off` (the head touches the top edge, only the head and shoulders are in the
/// frame, or the face sits in the lower half). No frontal face says nothing: a photo from
/// behind or in profile may work, and a warning that is often wrong teaches users to ignore
/// the right ones.
pub fn framing_warnings(faces: &[Face]) -> Vec<&'static str> {
    let Some(main) = faces.first() else { return Vec::new() };
    let mut warnings = Vec::new();
    if faces[1..].iter().any(|f| f.h >= main.h * SECOND_PERSON) {
        warnings.push("several_people");
    }
    let centre = main.y + main.h / 2.0;
    if main.y <= HEAD_MARGIN || main.h > CLOSE_UP || centre > FACE_TOO_LOW {
        warnings.push("cut_off");
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(y: f64, h: f64) -> Face {
        Face { x: 0.4, y, w: h * 0.75, h, score: 5.0 }
    }

    #[test]
    fn the_rules_read_the_largest_face() {
        // A full-body photo: a small face near the top, not touching it.
        assert!(framing_warnings(&[face(0.08, 0.08)]).is_empty());
        // Waist-up: a larger face, still in the upper half.
        assert!(framing_warnings(&[face(0.12, 0.22)]).is_empty());
        assert!(framing_warnings(&[]).is_empty(), "no frontal face: nothing to say");
        // The head cut by the top edge.
        assert_eq!(framing_warnings(&[face(0.0, 0.15)]), vec!["cut_off"]);
        // A close-up selfie: the body is out of frame.
        assert_eq!(framing_warnings(&[face(0.2, 0.5)]), vec!["cut_off"]);
        // The face in the lower half: the body below is cut off.
        assert_eq!(framing_warnings(&[face(0.55, 0.1)]), vec!["cut_off"]);
        // Two people of a size; a small face far behind does not count.
        assert_eq!(framing_warnings(&[face(0.1, 0.1), face(0.12, 0.09)]), vec!["several_people"]);
        assert!(framing_warnings(&[face(0.1, 0.1), face(0.3, 0.03)]).is_empty());
    }

    fn photo(bytes: &[u8], scale: u32) -> DynamicImage {
        let image = image::load_from_memory(bytes).unwrap();
        image.resize(image.width() * scale, image.height() * scale, image::imageops::FilterType::CatmullRom)
    }

    #[test]
    fn real_photos_are_read_right() {
        let model = FaceModel::from_bytes(include_bytes!("../../assets/models/seeta_fd_frontal_v1.0.bin")).unwrap();
        let check = |bytes: &[u8], scale| framing_warnings(&find_faces(&model, &photo(bytes, scale)));
        // One person head to feet, at a phone camera's size.
        let one = find_faces(&model, &photo(include_bytes!("../../tests/fixtures/photos/one.png"), 7));
        assert_eq!(one.len(), 1, "{one:?}");
        assert!(framing_warnings(&one).is_empty(), "{one:?}");
        assert_eq!(check(include_bytes!("../../tests/fixtures/photos/closeup.png"), 7), vec!["cut_off"]);
        assert!(check(include_bytes!("../../tests/fixtures/photos/group.png"), 4).contains(&"several_people"));
        // The same person with the top of the head cut by the frame.
        let one = photo(include_bytes!("../../tests/fixtures/photos/one.png"), 7);
        let cut = one.crop_imm(0, one.height() / 17, one.width(), one.height() - one.height() / 17);
        assert_eq!(framing_warnings(&find_faces(&model, &cut)), vec!["cut_off"]);
        // No face at all (an empty wall): nothing to say.
        let wall = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(600, 800, image::Luma([128])));
        assert!(find_faces(&model, &wall).is_empty());
    }
}
