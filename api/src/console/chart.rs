//! Bar charts as SVG, drawn on the server: no chart library, no script,
//! readable on a phone. Labels are escaped; everything else is numbers.

use std::fmt::Write;

use bazaar_core::mail::escape_html;

/// One bar: its label under the axis, its value, and the text a pointer
/// shows over it.
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub title: String,
}

/// Vertical bars, `label_every` labels apart (dates crowd).
pub fn columns(id: &str, caption: &str, bars: &[Bar], label_every: usize) -> String {
    let (w, h, top, bottom, left) = (640.0_f64, 220.0_f64, 16.0, 28.0, 8.0);
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let slot = (w - 2.0 * left) / bars.len().max(1) as f64;
    let plot = h - top - bottom;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" role="img" aria-label="{caption}"><title>{caption}</title>"#,
        id = escape_html(id),
        caption = escape_html(caption)
    );
    let _ = write!(
        svg,
        r##"<line x1="{left}" y1="{y}" x2="{x2}" y2="{y}" stroke="#cfd4dc"/>"##,
        y = h - bottom,
        x2 = w - left
    );
    for (i, b) in bars.iter().enumerate() {
        let bh = (b.value.max(0) as f64 / max) * plot;
        let x = left + i as f64 * slot + slot * 0.15;
        let y = h - bottom - bh;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" data-value="{v}"><title>{t}</title></rect>"#,
            bw = slot * 0.7,
            v = b.value,
            t = escape_html(&b.title)
        );
        if label_every > 0 && i % label_every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{tx:.1}" y="{ty}" text-anchor="middle">{l}</text>"#,
                tx = x + slot * 0.35,
                ty = h - bottom + 14.0,
                l = escape_html(&b.label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars with their label and value beside each.
pub fn rows(id: &str, caption: &str, bars: &[Bar]) -> String {
    let (w, row, label_w) = (640.0_f64, 24.0_f64, 110.0_f64);
    let h = row * bars.len().max(1) as f64 + 8.0;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" role="img" aria-label="{caption}"><title>{caption}</title>"#,
        id = escape_html(id),
        caption = escape_html(caption)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = 4.0 + i as f64 * row;
        let bw = (b.value.max(0) as f64 / max) * (w - label_w - 60.0);
        let _ = write!(
            svg,
            r#"<text x="0" y="{ty:.1}">{l}</text><rect class="bar" x="{label_w}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" data-value="{v}"><title>{t}</title></rect><text x="{vx:.1}" y="{ty:.1}">{v}</text>"#,
            ty = y + row * 0.6,
            l = escape_html(&b.label),
            bh = row * 0.7,
            v = b.value,
            t = escape_html(&b.title),
            vx = label_w + bw + 6.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_labels_are_escaped() {
        let bars = vec![
            Bar {
                label: "<a>".into(),
                value: 10,
                title: "ten".into(),
            },
            Bar {
                label: "b".into(),
                value: 5,
                title: "five".into(),
            },
        ];
        let svg = columns("c", "Revenue", &bars, 1);
        assert!(svg.contains("&lt;a&gt;") && !svg.contains("<a>"), "{svg}");
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        assert!(svg.contains("data-value=\"10\"") && svg.contains("data-value=\"5\""));
        let empty = rows("r", "Orders", &[]);
        assert!(empty.starts_with("<svg") && empty.ends_with("</svg>"));
    }
}
