//! The free tier's watermark: the product name tiled diagonally over the whole picture at low
//! opacity (so cropping any band of the result still leaves it), plus a clearer mark in the
//! lower right corner. Each stroke is light on dark pixels and dark on light ones, so the mark
//! shows on any picture. Pure; callers run it in `spawn_blocking`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ab_glyph::{Font, FontArc, PxScale, ScaleFont, point};
use image::{DynamicImage, Rgba, RgbaImage};

/// Opacity (0–255) of the tiled pattern and of the corner mark.
const TILE_ALPHA: f32 = 70.0;
const CORNER_ALPHA: f32 = 200.0;
/// The pattern's angle (radians; text rising to the right).
const ANGLE: f32 = -std::f32::consts::FRAC_PI_6;

/// The marked pixels of one picture size: (pixel index, opacity 0–255).
type Overlay = Arc<Vec<(u32, u8)>>;

/// A loaded font and the text to draw, with the overlay of the last few picture sizes (results
/// mostly come in a handful of sizes; drawing the pattern is the costly part).
#[derive(Clone)]
pub struct Watermark {
    font: FontArc,
    text: String,
    overlays: Arc<Mutex<HashMap<(u32, u32), Overlay>>>,
}

/// Sizes whose overlay is kept.
const OVERLAYS_KEPT: usize = 16;

/// A text rendered into a coverage mask (0..1 per pixel).
struct Mask {
    w: u32,
    h: u32,
    cover: Vec<f32>,
}

impl Mask {
    fn at(&self, x: u32, y: u32) -> f32 {
        self.cover[(y * self.w + x) as usize]
    }
}

impl Watermark {
    pub fn new(font_bytes: Vec<u8>, text: &str) -> anyhow::Result<Self> {
        let font = FontArc::try_from_vec(font_bytes).map_err(|e| anyhow::anyhow!("watermark font: {e}"))?;
        Ok(Watermark { font, text: text.to_string(), overlays: Arc::default() })
    }

    /// The text at `px` in a box `pad_x` wider and `pad_y` taller (the text at the left, centred
    /// vertically).
    fn render(&self, px: f32, pad_x: f32, pad_y: f32) -> Mask {
        let scale = PxScale::from(px);
        let scaled = self.font.as_scaled(scale);
        let text_width: f32 = self.text.chars().map(|c| scaled.h_advance(self.font.glyph_id(c))).sum();
        let w = (text_width + pad_x).ceil().max(1.0) as u32;
        let h = (px * 1.2 + pad_y).ceil().max(1.0) as u32;
        let mut cover = vec![0.0f32; (w * h) as usize];
        let mut caret = 0.0;
        let baseline = pad_y / 2.0 + px * 0.1 + scaled.ascent();
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
                        let cell = &mut cover[(y as u32 * w + x as u32) as usize];
                        *cell = cell.max(coverage);
                    }
                });
            }
        }
        Mask { w, h, cover }
    }

    /// Draws the mark and returns the new image (RGBA).
    pub fn apply(&self, image: &DynamicImage) -> RgbaImage {
        let mut canvas = image.to_rgba8();
        let (w, h) = canvas.dimensions();
        self.mark_pixels(&mut canvas, 4, w, h);
        canvas
    }

    /// Draws the mark on `image` itself when it is RGB (every decoded JPEG: no copy, no
    /// conversion), on an RGBA copy otherwise.
    pub fn apply_owned(&self, image: DynamicImage) -> DynamicImage {
        match image {
            DynamicImage::ImageRgb8(mut rgb) => {
                let (w, h) = rgb.dimensions();
                self.mark_pixels(&mut rgb, 3, w, h);
                DynamicImage::ImageRgb8(rgb)
            }
            other => DynamicImage::ImageRgba8(self.apply(&other)),
        }
    }

    /// Blends the overlay of a `w`×`h` picture into its pixels (`channels` bytes each, RGB
    /// first).
    fn mark_pixels(&self, pixels: &mut [u8], channels: usize, w: u32, h: u32) {
        let overlay = self.overlay(w, h);
        for &(index, alpha) in overlay.iter() {
            let at = index as usize * channels;
            let mut pixel = Rgba([pixels[at], pixels[at + 1], pixels[at + 2], 255]);
            contrast_blend(&mut pixel, f32::from(alpha));
            pixels[at..at + 3].copy_from_slice(&pixel.0[..3]);
        }
    }

    /// The overlay of a `w`×`h` picture (drawn once per size, then kept).
    fn overlay(&self, w: u32, h: u32) -> Overlay {
        if let Some(found) = self.overlays.lock().unwrap_or_else(PoisonError::into_inner).get(&(w, h)) {
            return found.clone();
        }
        let drawn = Arc::new(self.draw(w, h));
        let mut kept = self.overlays.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= OVERLAYS_KEPT {
            kept.clear();
        }
        kept.insert((w, h), drawn.clone());
        drawn
    }

    /// The tiled pattern (rows of the text along the diagonal, every other row shifted by half a
    /// tile, rows one text height apart) and the corner mark, as opacities per pixel.
    fn draw(&self, w: u32, h: u32) -> Vec<(u32, u8)> {
        let mut alpha = vec![0u8; (w as usize) * (h as usize)];
        let short = w.min(h) as f32;
        let px = (short / 11.0).max(10.0);
        let tile = self.render(px, px * 1.2, px * 1.4);
        let (sin, cos) = ANGLE.sin_cos();
        let (tw, th) = (tile.w as f32, tile.h as f32);
        for y in 0..h {
            // Pattern coordinates of (0, y), then stepped along the row.
            let fy = y as f32;
            let mut u = fy * sin;
            let mut v = fy * cos;
            for x in 0..w {
                let row = (v / th).floor();
                let shift = if row as i64 % 2 == 0 { 0.0 } else { tw / 2.0 };
                let tu = (u + shift).rem_euclid(tw) as u32 % tile.w;
                let tv = (v - row * th) as u32 % tile.h;
                let coverage = tile.at(tu, tv);
                if coverage > 0.0 {
                    alpha[(y * w + x) as usize] = (coverage * TILE_ALPHA) as u8;
                }
                u += cos;
                v -= sin;
            }
        }
        let corner = self.render((short / 14.0).max(10.0), 0.0, 0.0);
        let margin = (short / 40.0).max(2.0) as u32;
        let (ox, oy) = (w.saturating_sub(corner.w + margin), h.saturating_sub(corner.h + margin));
        for ty in 0..corner.h {
            for tx in 0..corner.w {
                let (x, y) = (ox + tx, oy + ty);
                let coverage = corner.at(tx, ty);
                if x < w && y < h && coverage > 0.0 {
                    let cell = &mut alpha[(y * w + x) as usize];
                    *cell = (*cell).max((coverage * CORNER_ALPHA) as u8);
                }
            }
        }
        alpha.iter().enumerate().filter(|(_, a)| **a > 0).map(|(i, a)| (i as u32, *a)).collect()
    }
}

/// Blends white over a dark pixel or black over a light one at `alpha` (0–255).
fn contrast_blend(dst: &mut Rgba<u8>, alpha: f32) {
    let luma = 0.299 * f32::from(dst[0]) + 0.587 * f32::from(dst[1]) + 0.114 * f32::from(dst[2]);
    let ink = if luma > 150.0 { 0.0 } else { 255.0 };
    let a = (alpha / 255.0).clamp(0.0, 1.0);
    for i in 0..3 {
        dst[i] = (ink * a + f32::from(dst[i]) * (1.0 - a)).round() as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark() -> Watermark {
        let font = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/fonts/DejaVuSans.ttf")).unwrap();
        Watermark::new(font, "Primerka").unwrap()
    }

    /// Pixels of `out` inside the rectangle that differ clearly from `colour`.
    fn changed(out: &RgbaImage, (x0, y0, x1, y1): (u32, u32, u32, u32), colour: Rgba<u8>) -> usize {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| (0..3).any(|c| out.get_pixel(x, y)[c].abs_diff(colour[c]) > 10))
            .count()
    }

    #[test]
    fn any_30_percent_band_still_carries_the_mark_on_light_and_dark_pictures() {
        for (w, h, colour) in [(300, 400, Rgba([200, 30, 30, 255])), (640, 360, Rgba([250, 250, 250, 255]))] {
            let source = DynamicImage::ImageRgba8(RgbaImage::from_pixel(w, h, colour));
            let out = mark().apply(&source);
            assert_eq!(out.dimensions(), (w, h));
            let band = |size: u32| (size as f32 * 0.3) as u32;
            for step in 0..=14 {
                let y0 = (h - band(h)) * step / 14;
                let rows = changed(&out, (0, y0, w, y0 + band(h)), colour);
                assert!(rows > (w * band(h)) as usize / 50, "{w}×{h}: rows from {y0}: {rows} marked pixels");
                let x0 = (w - band(w)) * step / 14;
                let cols = changed(&out, (x0, 0, x0 + band(w), h), colour);
                assert!(cols > (h * band(w)) as usize / 50, "{w}×{h}: columns from {x0}: {cols} marked pixels");
            }
            // Low opacity, thin strokes: most of the picture is untouched.
            let touched = changed(&out, (0, 0, w, h / 2), colour);
            assert!(touched < (w * h / 2) as usize / 2, "{touched} of the upper half changed");
            // Marking an RGB picture in place draws exactly the same mark.
            let rgb = DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(RgbaImage::from_pixel(w, h, colour)).to_rgb8());
            assert_eq!(mark().apply_owned(rgb).to_rgba8(), out);
        }
    }
}
