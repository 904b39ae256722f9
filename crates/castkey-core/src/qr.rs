//! QR codes for sign-in with a code (RFC 8628 §3.3.1): the window shows the
//! verification URL as a QR code so a phone can open it. The SVG is built
//! here from the URL only; it holds nothing secret.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// An SVG drawing of `text` as a QR code, or `None` if it is too long.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(180, 180)
            .quiet_zone(true)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

/// `text` as a QR code drawn with Unicode half blocks, for a terminal.
pub fn terminal(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_reads_back_as_the_url() {
        let url = "http://127.0.0.1:4000/device?user_code=WDJB-MJHT";
        let drawing = svg(url).unwrap();
        assert!(drawing.contains("<svg") && drawing.contains("</svg>"));
        // Decode what was drawn: the same modules, scaled up, through a QR reader.
        let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).unwrap();
        let width = code.width();
        let colors = code.to_colors();
        let (scale, quiet) = (4, 4);
        let side = (width + 2 * quiet) * scale;
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            let (mx, my) = (x / scale, y / scale);
            let dark = mx >= quiet
                && my >= quiet
                && mx < width + quiet
                && my < width + quiet
                && colors[(my - quiet) * width + (mx - quiet)] == qrcode::Color::Dark;
            if dark {
                0
            } else {
                255
            }
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, url);
        assert!(svg(&"x".repeat(5000)).is_none());
    }
}
