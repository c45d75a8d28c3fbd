//! Pictures of slice partitions: filled regions, their edges, the decision boundary and marked
//! inputs, one panel per partition, as PNG and SVG.
//!
//! The PNG is rasterized here (scanline fill of each convex polygon, sampled segments) and
//! carries no text. The SVG has the same panels with their titles, one `<polygon>` per region.

use crate::output::write_atomic;
use anyhow::{Context, Result, ensure};
use image::{ImageEncoder, Rgb, RgbImage};
use maso::slice::{BoundarySegment, Polygon};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::Path;

/// The Tableau 10 palette, for classes and marked inputs.
pub const CLASS_COLORS: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

const EDGE_COLOR: [u8; 3] = [60, 60, 60];
const BOUNDARY_COLOR: [u8; 3] = [0, 0, 0];
const MARKER_OUTLINE: [u8; 3] = [255, 255, 255];
const BACKGROUND: [u8; 3] = [255, 255, 255];
/// Pixels between panels and around the figure.
const GUTTER: u32 = 8;
/// Height of the SVG title line above each panel.
const TITLE_HEIGHT: u32 = 24;

/// A marked input: its slice coordinates and colour.
#[derive(Debug, Clone, Copy)]
pub struct Marker {
    pub at: [f64; 2],
    pub color: [u8; 3],
}

/// One panel: filled polygons, the edges of a partition, a decision boundary and markers, over
/// the slice rectangle `[min, max]`.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub title: String,
    pub min: [f64; 2],
    pub max: [f64; 2],
    /// Polygons filled with their colours, in order.
    pub fills: Vec<(Polygon, [u8; 3])>,
    /// Polygons whose edges are drawn thin.
    pub edges: Vec<Polygon>,
    /// Segments drawn thick.
    pub boundary: Vec<BoundarySegment>,
    pub markers: Vec<Marker>,
}

impl Panel {
    /// Returns whether `u` lies in the panel's rectangle.
    fn shows(&self, u: [f64; 2]) -> bool {
        (0..2).all(|axis| self.min[axis] <= u[axis] && u[axis] <= self.max[axis])
    }
}

/// Panels laid out in rows of `columns`, each `size` pixels on its longer side.
pub struct Figure {
    pub panels: Vec<Panel>,
    pub columns: usize,
    pub size: u32,
}

/// Returns a light colour derived from a hash of `value`, for regions coloured by code.
pub fn hashed_color(value: &impl Hash) -> [u8; 3] {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    let bits = hasher.finish();
    let channel = |shift: u32| 90 + ((bits >> shift) & 0xff) as u8 % 160;
    [channel(0), channel(8), channel(16)]
}

/// Returns the class colour lightened towards white, for filled class cells.
pub fn class_fill(class: usize) -> [u8; 3] {
    let [r, g, b] = CLASS_COLORS[class % CLASS_COLORS.len()];
    let lighten = |c: u8| (c as u16 + (255 - c as u16) * 11 / 20) as u8;
    [lighten(r), lighten(g), lighten(b)]
}

/// Maps slice coordinates to pixels of a panel.
struct Frame {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    min: [f64; 2],
    max: [f64; 2],
}

impl Frame {
    fn new(panel: &Panel, left: u32, top: u32, size: u32) -> Self {
        let span = [panel.max[0] - panel.min[0], panel.max[1] - panel.min[1]];
        let scale = size as f64 / span[0].max(span[1]);
        Self {
            left: left as f64,
            top: top as f64,
            width: span[0] * scale,
            height: span[1] * scale,
            min: panel.min,
            max: panel.max,
        }
    }

    /// Pixel position of `u`; the second slice axis points up.
    fn pixel(&self, u: [f64; 2]) -> [f64; 2] {
        [
            self.left + (u[0] - self.min[0]) / (self.max[0] - self.min[0]) * self.width,
            self.top + (self.max[1] - u[1]) / (self.max[1] - self.min[1]) * self.height,
        ]
    }
}

impl Figure {
    fn layout(&self) -> (u32, u32, usize) {
        let columns = self.columns.clamp(1, self.panels.len().max(1));
        let rows = self.panels.len().div_ceil(columns);
        let width = GUTTER + columns as u32 * (self.size + GUTTER);
        let height = GUTTER + rows as u32 * (self.row_height() + GUTTER + TITLE_HEIGHT);
        (width, height, columns)
    }

    /// Height in pixels of the tallest panel: a panel's longer side is `size` pixels.
    fn row_height(&self) -> u32 {
        self.panels
            .iter()
            .map(|panel| Frame::new(panel, 0, 0, self.size).height.ceil() as u32)
            .max()
            .unwrap_or(self.size)
    }

    fn panel_origin(&self, index: usize, columns: usize) -> (u32, u32) {
        let column = (index % columns) as u32;
        let row = (index / columns) as u32;
        (
            GUTTER + column * (self.size + GUTTER),
            GUTTER + row * (self.row_height() + GUTTER + TITLE_HEIGHT) + TITLE_HEIGHT,
        )
    }

    /// Rasterizes the figure.
    pub fn render_png(&self) -> Result<RgbImage> {
        ensure!(!self.panels.is_empty(), "a figure needs at least one panel");
        let (width, height, columns) = self.layout();
        let mut image = RgbImage::from_pixel(width, height, Rgb(BACKGROUND));
        for (index, panel) in self.panels.iter().enumerate() {
            let (left, top) = self.panel_origin(index, columns);
            let frame = Frame::new(panel, left, top, self.size);
            for (polygon, color) in &panel.fills {
                fill_polygon(&mut image, &frame, polygon, *color);
            }
            for polygon in &panel.edges {
                for (a, b) in polygon.edges() {
                    draw_segment(&mut image, frame.pixel(a), frame.pixel(b), 0.5, EDGE_COLOR);
                }
            }
            for segment in &panel.boundary {
                let (a, b) = (frame.pixel(segment.start), frame.pixel(segment.end));
                draw_segment(&mut image, a, b, 1.5, BOUNDARY_COLOR);
            }
            for marker in panel.markers.iter().filter(|m| panel.shows(m.at)) {
                draw_disc(&mut image, frame.pixel(marker.at), 6.0, MARKER_OUTLINE);
                draw_disc(&mut image, frame.pixel(marker.at), 4.5, marker.color);
            }
        }
        Ok(image)
    }

    /// Writes the PNG atomically.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let image = self.render_png()?;
        let mut bytes = Vec::new();
        image::codecs::png::PngEncoder::new(&mut bytes)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                image::ExtendedColorType::Rgb8,
            )
            .context("failed to encode the partition PNG")?;
        write_atomic(path, &bytes)
    }

    /// Returns the figure as an SVG document.
    pub fn render_svg(&self) -> String {
        let (width, height, columns) = self.layout();
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        for (index, panel) in self.panels.iter().enumerate() {
            let (left, top) = self.panel_origin(index, columns);
            let frame = Frame::new(panel, left, top, self.size);
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" font-family="sans-serif" font-size="15">{}</text>"#,
                left,
                top - 7,
                escape(&panel.title)
            );
            let _ = writeln!(svg, r#"<g stroke="none">"#);
            for (polygon, color) in &panel.fills {
                let _ = writeln!(
                    svg,
                    r#"<polygon points="{}" fill="{}"/>"#,
                    points(&frame, polygon),
                    hex(*color)
                );
            }
            let _ = writeln!(svg, "</g>");
            let _ = writeln!(
                svg,
                r#"<g fill="none" stroke="{}" stroke-width="0.5">"#,
                hex(EDGE_COLOR)
            );
            for polygon in &panel.edges {
                let _ = writeln!(svg, r#"<polygon points="{}"/>"#, points(&frame, polygon));
            }
            let _ = writeln!(svg, "</g>");
            let _ = writeln!(
                svg,
                r#"<g stroke="{}" stroke-width="2.5" stroke-linecap="round">"#,
                hex(BOUNDARY_COLOR)
            );
            for segment in &panel.boundary {
                let [x1, y1] = frame.pixel(segment.start);
                let [x2, y2] = frame.pixel(segment.end);
                let _ = writeln!(
                    svg,
                    r#"<line x1="{x1:.2}" y1="{y1:.2}" x2="{x2:.2}" y2="{y2:.2}"/>"#
                );
            }
            let _ = writeln!(svg, "</g>");
            for marker in panel.markers.iter().filter(|m| panel.shows(m.at)) {
                let [x, y] = frame.pixel(marker.at);
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{x:.2}" cy="{y:.2}" r="5" fill="{}" stroke="white" stroke-width="1.5"/>"#,
                    hex(marker.color)
                );
            }
        }
        svg.push_str("</svg>\n");
        svg
    }

    /// Writes the SVG atomically.
    pub fn write_svg(&self, path: &Path) -> Result<()> {
        write_atomic(path, self.render_svg().as_bytes())
    }
}

fn points(frame: &Frame, polygon: &Polygon) -> String {
    let mut text = String::new();
    for &vertex in polygon.vertices() {
        let [x, y] = frame.pixel(vertex);
        let _ = write!(text, "{x:.2},{y:.2} ");
    }
    text.pop();
    text
}

fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Fills the pixels whose centres lie in the convex polygon.
fn fill_polygon(image: &mut RgbImage, frame: &Frame, polygon: &Polygon, color: [u8; 3]) {
    let pixels: Vec<[f64; 2]> = polygon.vertices().iter().map(|&v| frame.pixel(v)).collect();
    let top = pixels.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min);
    let bottom = pixels
        .iter()
        .map(|p| p[1])
        .fold(f64::NEG_INFINITY, f64::max);
    let first_row = (top - 0.5).ceil().max(0.0) as u32;
    let last_row = ((bottom - 0.5).floor() as i64).min(image.height() as i64 - 1);
    for row in first_row as i64..=last_row {
        let y = row as f64 + 0.5;
        let (mut left, mut right) = (f64::INFINITY, f64::NEG_INFINITY);
        for i in 0..pixels.len() {
            let a = pixels[i];
            let b = pixels[(i + 1) % pixels.len()];
            if (a[1] <= y && y <= b[1]) || (b[1] <= y && y <= a[1]) {
                let x = if a[1] == b[1] {
                    left = left.min(a[0].min(b[0]));
                    a[0].max(b[0])
                } else {
                    a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0])
                };
                left = left.min(x);
                right = right.max(x);
            }
        }
        let first = (left - 0.5).ceil().max(0.0) as u32;
        let last = ((right - 0.5).floor() as i64).min(image.width() as i64 - 1);
        for column in first as i64..=last {
            image.put_pixel(column as u32, row as u32, Rgb(color));
        }
    }
}

/// Draws a segment of half-width `radius` pixels by stamping discs along it.
fn draw_segment(image: &mut RgbImage, a: [f64; 2], b: [f64; 2], radius: f64, color: [u8; 3]) {
    let length = (b[0] - a[0]).hypot(b[1] - a[1]);
    let steps = (length * 2.0).ceil().max(1.0) as usize;
    for step in 0..=steps {
        let t = step as f64 / steps as f64;
        let point = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
        draw_disc(image, point, radius, color);
    }
}

fn draw_disc(image: &mut RgbImage, center: [f64; 2], radius: f64, color: [u8; 3]) {
    let reach = radius.max(0.5);
    let x0 = (center[0] - reach).floor().max(0.0) as i64;
    let x1 = ((center[0] + reach).ceil() as i64).min(image.width() as i64 - 1);
    let y0 = (center[1] - reach).floor().max(0.0) as i64;
    let y1 = ((center[1] + reach).ceil() as i64).min(image.height() as i64 - 1);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let dx = x as f64 + 0.5 - center[0];
            let dy = y as f64 + 0.5 - center[1];
            if dx * dx + dy * dy <= reach * reach {
                image.put_pixel(x as u32, y as u32, Rgb(color));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_square_covers_panel() {
        let panel = Panel {
            title: "square".into(),
            min: [-1.0, -1.0],
            max: [1.0, 1.0],
            fills: vec![(Polygon::rectangle([-1.0, -1.0], [1.0, 1.0]), [1, 2, 3])],
            ..Panel::default()
        };
        let figure = Figure {
            panels: vec![panel],
            columns: 1,
            size: 40,
        };
        let image = figure.render_png().unwrap();
        let (left, top) = figure.panel_origin(0, 1);
        for (x, y) in [(left, top), (left + 39, top + 39), (left + 20, top + 20)] {
            assert_eq!(image.get_pixel(x, y).0, [1, 2, 3], "pixel {x}, {y}");
        }
        assert_eq!(image.get_pixel(left + 40, top).0, BACKGROUND);
        let svg = figure.render_svg();
        assert_eq!(svg.matches("<polygon").count(), 1);
    }
}
