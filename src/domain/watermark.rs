//! The free tier's watermark: a translucent band with the product name across the lower part
//! of the result. Pure; callers run it in `spawn_blocking`.

use ab_glyph::{Font, FontArc, PxScale, ScaleFont, point};
use image::{DynamicImage, Rgba, RgbaImage};

/// A loaded font and the text to draw.
#[derive(Clone)]
pub struct Watermark {
    font: FontArc,
    text: String,
}

impl Watermark {
    pub fn new(font_bytes: Vec<u8>, text: &str) -> anyhow::Result<Self> {
        let font = FontArc::try_from_vec(font_bytes).map_err(|e| anyhow::anyhow!("watermark font: {e}"))?;
        Ok(Watermark { font, text: text.to_string() })
    }

    /// Draws the mark and returns the new image (RGBA).
    pub fn apply(&self, image: &DynamicImage) -> RgbaImage {
        let mut canvas = image.to_rgba8();
        let (w, h) = canvas.dimensions();
        let px = (w.min(h) as f32 / 9.0).max(12.0);
        let scale = PxScale::from(px);
        let scaled = self.font.as_scaled(scale);
        let text_width: f32 = self.text.chars().map(|c| scaled.h_advance(self.font.glyph_id(c))).sum();
        let band_top = (h as f32 * 0.78) as u32;
        let band_bottom = (band_top as f32 + px * 1.4).min(h as f32) as u32;
        for y in band_top..band_bottom {
            for x in 0..w {
                blend(canvas.get_pixel_mut(x, y), Rgba([0, 0, 0, 90]));
            }
        }
        let mut caret = ((w as f32 - text_width) / 2.0).max(0.0);
        let baseline = band_top as f32 + px * 0.2 + scaled.ascent();
        for c in self.text.chars() {
            let id = self.font.glyph_id(c);
            let glyph = id.with_scale_and_position(scale, point(caret, baseline));
            caret += scaled.h_advance(id);
            if let Some(outline) = self.font.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                outline.draw(|gx, gy, coverage| {
                    let x = bounds.min.x as i64 + i64::from(gx);
                    let y = bounds.min.y as i64 + i64::from(gy);
                    if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                        let alpha = (coverage * 200.0) as u8;
                        blend(canvas.get_pixel_mut(x as u32, y as u32), Rgba([255, 255, 255, alpha]));
                    }
                });
            }
        }
        canvas
    }
}

fn blend(dst: &mut Rgba<u8>, src: Rgba<u8>) {
    let a = f32::from(src[3]) / 255.0;
    for i in 0..3 {
        dst[i] = (f32::from(src[i]) * a + f32::from(dst[i]) * (1.0 - a)).round() as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark() -> Watermark {
        let font = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/fonts/DejaVuSans.ttf")).unwrap();
        Watermark::new(font, "Primerka").unwrap()
    }

    #[test]
    fn marks_the_lower_band_and_keeps_the_top() {
        let source = DynamicImage::ImageRgba8(RgbaImage::from_pixel(300, 400, Rgba([200, 30, 30, 255])));
        let out = mark().apply(&source);
        assert_eq!(out.dimensions(), (300, 400));
        assert_eq!(out.get_pixel(150, 20), &Rgba([200, 30, 30, 255]), "the top is untouched");
        let band_changed = (312..350)
            .flat_map(|y| (0..300).map(move |x| (x, y)))
            .filter(|&(x, y)| out.get_pixel(x, y) != &Rgba([200, 30, 30, 255]))
            .count();
        assert!(band_changed > 300 * 30, "the band is drawn");
        let bright = (312..360)
            .flat_map(|y| (0..300).map(move |x| (x, y)))
            .filter(|&(x, y)| out.get_pixel(x, y)[1] > 120)
            .count();
        assert!(bright > 50, "white text is drawn ({bright} bright pixels)");
    }
}
