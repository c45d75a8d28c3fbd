//! SVG line plots of experiment results, such as test accuracy against the penalty weight with
//! error bars over seeds.
//!
//! The plots are drawn with plotters' SVG backend, built without its `ttf` feature, so neither
//! the build nor a run reads a font file. Text goes into the SVG as `<text>` elements with the
//! generic `sans-serif` family, and the viewer picks the font. The layout therefore rests on
//! estimated text widths (plotters' and [`text_width`]), and text in an unusually wide font may
//! run a little past the space left for it.

use std::path::Path;

use anyhow::{Context, bail, ensure};
use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::ranged1d::{BoldPoints, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::output::write_atomic;

/// One line of a plot, with optional symmetric error bars (e.g. standard deviation over seeds).
///
/// Points are connected in the given order. A series with an empty `label` gets no legend entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Half-length of the error bar at each point: the bar runs from `y - err` to `y + err`.
    pub y_err: Option<Vec<f64>>,
}

/// Size in pixels of the area with the title, the axes and the data. The legend column is added
/// to the right of it, so the SVG is wider than `PLOT_WIDTH` when any series has a label, and
/// taller than `PLOT_HEIGHT` when the legend has more rows than fit next to the plot.
const PLOT_WIDTH: u32 = 800;
const PLOT_HEIGHT: u32 = 520;

const TITLE_FONT_SIZE: u32 = 22;
const AXIS_LABEL_FONT_SIZE: u32 = 16;
const TICK_FONT_SIZE: u32 = 14;
const LEGEND_FONT_SIZE: u32 = 15;

/// Estimated mean width of one character as a fraction of the font size. The estimate errs on
/// the wide side, so that the space left for labels is rarely too small.
const CHARACTER_WIDTH_EM: f64 = 0.6;

/// Maximum number of ticks on each axis. Plotters picks ticks at multiples of 1, 2 or 5 times a
/// power of ten, so an axis may get fewer.
const MAX_TICKS: usize = 10;

/// Fraction of the data range added on each side of an axis, so that markers and error bars do
/// not touch the frame.
const RANGE_MARGIN: f64 = 0.05;

/// The Tableau 10 palette, also matplotlib's default colour cycle ("tab10").
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const LINE_WIDTH: u32 = 2;
const MARKER_SIZE: i32 = 4;
/// Width in pixels of the caps at both ends of an error bar.
const ERROR_BAR_CAP_WIDTH: u32 = 10;

/// Writes a line plot as SVG to `path`, atomically.
///
/// The plot has a marker at each point, the error bars where given, a legend with the labels,
/// axis labels, a title and numbered ticks. Both axes are linear and scaled to the data, error
/// bars included. Each of the first ten series gets its own colour. Later series reuse the colours
/// with a different marker shape.
///
/// Returns an error if `series` is empty or any series has no points. It also returns one if `x`,
/// `y` and `y_err` of a series differ in length, if any value is not finite or any error is
/// negative, and if the file cannot be written.
pub fn line_plot_svg(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> anyhow::Result<()> {
    let svg = render_line_plot(title, x_label, y_label, series)
        .with_context(|| format!("failed to draw the plot {}", path.display()))?;
    write_atomic(path, svg.as_bytes())
}

/// Checks the input, then draws the plot into an SVG document.
fn render_line_plot(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> anyhow::Result<String> {
    validate(series)?;

    let (x_min, x_max) = data_extent(series.iter().flat_map(|s| s.x.iter().copied()));
    let (y_min, y_max) = data_extent(series.iter().flat_map(y_extents));
    let x_range = padded_range(x_min, x_max).context("invalid x values")?;
    let y_range = padded_range(y_min, y_max).context("invalid y values (with error bars)")?;
    let x_ticks = TickFormat::new(x_range);
    let y_ticks = TickFormat::new(y_range);

    let legend_width = legend_width(series);
    let height = PLOT_HEIGHT.max(legend_height(series));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (PLOT_WIDTH + legend_width, height))
            .into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", TITLE_FONT_SIZE))?;
        let (plot_column, legend_area) = root.split_horizontally(PLOT_WIDTH);
        // A long legend makes the canvas taller, and the plot keeps its height at the top.
        let plot_height = plot_column.dim_in_pixel().1 - (height - PLOT_HEIGHT);
        let (plot_area, _) = plot_column.split_vertically(plot_height);

        // The y label area contains the tick labels and, left of them, the rotated axis label.
        let y_label_area =
            text_width(y_ticks.max_label_chars(), TICK_FONT_SIZE) + AXIS_LABEL_FONT_SIZE + 25;
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(10)
            .x_label_area_size(TICK_FONT_SIZE + AXIS_LABEL_FONT_SIZE + 25)
            .y_label_area_size(y_label_area)
            .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)?;

        let format_x = |value: &f64| x_ticks.format(*value);
        let format_y = |value: &f64| y_ticks.format(*value);
        chart
            .configure_mesh()
            .x_labels(MAX_TICKS)
            .y_labels(MAX_TICKS)
            .max_light_lines(0)
            .bold_line_style(BLACK.mix(0.12))
            .x_label_formatter(&format_x)
            .y_label_formatter(&format_y)
            .label_style(("sans-serif", TICK_FONT_SIZE))
            .axis_desc_style(("sans-serif", AXIS_LABEL_FONT_SIZE))
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()?;

        for (index, line) in series.iter().enumerate() {
            let style = series_style(index);
            let points = line.x.iter().copied().zip(line.y.iter().copied());
            chart.draw_series(LineSeries::new(
                points.clone(),
                style.color.stroke_width(LINE_WIDTH),
            ))?;
            // Besides the bar and its caps, plotters' ErrorBar draws a hollow circle of diameter
            // ERROR_BAR_CAP_WIDTH at the mean, which frames the marker drawn on top of it.
            if let Some(errors) = &line.y_err {
                chart.draw_series(points.clone().zip(errors.iter()).map(|((x, y), &error)| {
                    ErrorBar::new_vertical(
                        x,
                        y - error,
                        y,
                        y + error,
                        style.color.stroke_width(1),
                        ERROR_BAR_CAP_WIDTH,
                    )
                }))?;
            }
            draw_markers(&mut chart, points, &style)?;
        }

        draw_legend(&legend_area, series)?;
        root.present()?;
    }
    Ok(svg)
}

/// Checks that there is at least one series and that each one has points, matching lengths,
/// finite values and non-negative errors.
fn validate(series: &[Series]) -> anyhow::Result<()> {
    ensure!(
        !series.is_empty(),
        "invalid plot: the series list is empty, so there is nothing to draw"
    );
    for (index, line) in series.iter().enumerate() {
        let name = format!("series {index} ({:?})", line.label);
        ensure!(
            line.x.len() == line.y.len(),
            "invalid {name}: x has {} values but y has {}",
            line.x.len(),
            line.y.len()
        );
        ensure!(!line.x.is_empty(), "invalid {name}: it has no points");
        check_finite(&name, "x", &line.x)?;
        check_finite(&name, "y", &line.y)?;

        if let Some(errors) = &line.y_err {
            ensure!(
                errors.len() == line.y.len(),
                "invalid {name}: y has {} values but y_err has {}",
                line.y.len(),
                errors.len()
            );
            check_finite(&name, "y_err", errors)?;
            if let Some(position) = errors.iter().position(|&error| error < 0.0) {
                bail!(
                    "invalid {name}: y_err[{position}] is {}, but an error bar half-length must \
                     not be negative",
                    errors[position]
                );
            }
        }
    }
    Ok(())
}

fn check_finite(name: &str, field: &str, values: &[f64]) -> anyhow::Result<()> {
    if let Some(position) = values.iter().position(|value| !value.is_finite()) {
        bail!(
            "invalid {name}: {field}[{position}] is {}, but all values must be finite",
            values[position]
        );
    }
    Ok(())
}

/// Returns the lower and upper end of each error bar, or the y values when there are none.
fn y_extents(line: &Series) -> Vec<f64> {
    match &line.y_err {
        Some(errors) => line
            .y
            .iter()
            .zip(errors)
            .flat_map(|(&y, &error)| [y - error, y + error])
            .collect(),
        None => line.y.clone(),
    }
}

/// Returns the minimum and maximum of `values`, which must be non-empty and free of NaN.
fn data_extent(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(min, max), value| {
        (min.min(value), max.max(value))
    })
}

/// Widens `[min, max]` by [`RANGE_MARGIN`] of its length on each side. A zero-length range, from a
/// single point or constant values, is widened to 10% of its value on each side, or to [-1, 1]
/// around zero.
fn padded_range(min: f64, max: f64) -> anyhow::Result<(f64, f64)> {
    let span = max - min;
    let (low, high) = if span > 0.0 {
        (min - span * RANGE_MARGIN, max + span * RANGE_MARGIN)
    } else {
        let half_width = 0.1 * min.abs();
        if min - half_width < min + half_width {
            (min - half_width, min + half_width)
        } else {
            // Zero, or a subnormal number whose 10% rounds to zero.
            (min - 1.0, min + 1.0)
        }
    };
    ensure!(
        low.is_finite() && high.is_finite() && (high - low).is_finite(),
        "the values span [{min:e}, {max:e}], which is too wide to draw in double precision"
    );
    Ok((low, high))
}

/// Tick labels of one axis, all with the same number of digits after the decimal point. Values
/// of magnitude 10^5 and above, or below 10^-3, are written in scientific notation.
struct TickFormat {
    /// Whether the labels are written as `{mantissa}e{exponent}`.
    scientific: bool,
    /// Digits after the decimal point, in the mantissa when `scientific`. They are enough to tell
    /// neighbouring ticks apart.
    decimals: usize,
    /// Values closer to zero than this are written as zero, so that rounding noise in a tick
    /// value near zero does not print as "-0.0" or "1e-17".
    zero_tolerance: f64,
    ticks: Vec<f64>,
}

impl TickFormat {
    /// Computes the format from the ticks that plotters draws for `range`.
    fn new(range: (f64, f64)) -> Self {
        let coordinate: RangedCoordf64 = (range.0..range.1).into();
        // NOTE: plotters 0.3.7 returns a single tick for a range shorter than f64::EPSILON (an
        // absolute bound), so such an axis, e.g. values near 1e-17, shows one number only.
        let ticks = coordinate.key_points(BoldPoints(MAX_TICKS));
        let step = ticks
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .fold(f64::INFINITY, f64::min);
        // With fewer than two ticks there is no step, so the range length is used instead.
        let step = if step.is_finite() && step > 0.0 {
            step
        } else {
            range.1 - range.0
        };
        let step_exponent = decimal_exponent(step);
        let zero_tolerance = step * 1e-6;

        let max_magnitude = ticks.iter().fold(0.0f64, |max, tick| max.max(tick.abs()));
        let scientific = max_magnitude >= 1e5 || (max_magnitude > 0.0 && max_magnitude < 1e-3);
        let decimals = if scientific {
            // A tick of magnitude 10^e needs e - k mantissa digits to show a step of 10^k.
            ticks
                .iter()
                .filter(|tick| tick.abs() >= zero_tolerance)
                .map(|&tick| (decimal_exponent(tick.abs()) - step_exponent).max(0))
                .max()
                .unwrap_or(0) as usize
        } else {
            (-step_exponent).max(0) as usize
        };
        Self {
            scientific,
            decimals,
            zero_tolerance,
            ticks,
        }
    }

    fn format(&self, value: f64) -> String {
        let decimals = self.decimals;
        if value.abs() < self.zero_tolerance {
            if self.scientific {
                "0".to_string()
            } else {
                format!("{:.decimals$}", 0.0)
            }
        } else if self.scientific {
            format!("{value:.decimals$e}")
        } else {
            format!("{value:.decimals$}")
        }
    }

    /// Returns the number of characters in the longest tick label.
    fn max_label_chars(&self) -> usize {
        self.ticks
            .iter()
            .map(|&tick| self.format(tick).chars().count())
            .max()
            .unwrap_or(1)
    }
}

/// Returns `floor(log10(value))` for a positive `value`. The small offset keeps a power of ten
/// that floating point computed as 0.99999.. * 10^k at exponent k.
fn decimal_exponent(value: f64) -> i32 {
    (value.log10() + 1e-9).floor() as i32
}

/// Returns the estimated width in pixels of `chars` characters at `font_size`.
fn text_width(chars: usize, font_size: u32) -> u32 {
    (chars as f64 * font_size as f64 * CHARACTER_WIDTH_EM).ceil() as u32
}

/// Returns the width in pixels of the legend column: zero when no series has a label.
fn legend_width(series: &[Series]) -> u32 {
    let longest = series
        .iter()
        .map(|line| line.label.chars().count())
        .max()
        .unwrap_or(0);
    if longest == 0 {
        0
    } else {
        LEGEND_SAMPLE_WIDTH + 3 * LEGEND_PADDING + text_width(longest, LEGEND_FONT_SIZE)
    }
}

/// Returns the canvas height in pixels that the legend needs: below [`PLOT_HEIGHT`] unless the
/// legend has more than about 19 rows.
fn legend_height(series: &[Series]) -> u32 {
    let rows = series.iter().filter(|line| !line.label.is_empty()).count() as u32;
    // Plotters' title takes about twice the font size.
    2 * TITLE_FONT_SIZE + LEGEND_TOP as u32 + rows * LEGEND_ROW_HEIGHT as u32
}

/// Length in pixels of the line sample in front of each legend label.
const LEGEND_SAMPLE_WIDTH: u32 = 30;
const LEGEND_PADDING: u32 = 10;
const LEGEND_ROW_HEIGHT: i32 = 24;
/// Distance in pixels from the top of the legend column, below the title, to the first row.
const LEGEND_TOP: i32 = 20;

/// Draws one row per labelled series, top to bottom in the order of `series`: a line sample with
/// the series' marker, then the label.
fn draw_legend(area: &DrawingArea<SVGBackend, Shift>, series: &[Series]) -> anyhow::Result<()> {
    let label_style = TextStyle::from(("sans-serif", LEGEND_FONT_SIZE).into_font())
        .pos(Pos::new(HPos::Left, VPos::Center));
    let sample_start = LEGEND_PADDING as i32;
    let sample_end = sample_start + LEGEND_SAMPLE_WIDTH as i32;

    let labelled = series
        .iter()
        .enumerate()
        .filter(|(_, line)| !line.label.is_empty());
    for (row, (index, line)) in labelled.enumerate() {
        let style = series_style(index);
        let y = LEGEND_TOP + row as i32 * LEGEND_ROW_HEIGHT;
        area.draw(&PathElement::new(
            vec![(sample_start, y), (sample_end, y)],
            style.color.stroke_width(LINE_WIDTH),
        ))?;
        draw_legend_marker(area, ((sample_start + sample_end) / 2, y), &style)?;
        area.draw(&Text::new(
            line.label.as_str(),
            (sample_end + LEGEND_PADDING as i32, y),
            label_style.clone(),
        ))?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Triangle,
    Cross,
}

struct SeriesStyle {
    color: RGBColor,
    marker: Marker,
}

/// Returns the colour and marker of the series at `index`: the palette colours in order, with
/// circles for the first ten series, triangles for the next ten and crosses for the ten after.
/// From the 31st series on, the combinations repeat.
fn series_style(index: usize) -> SeriesStyle {
    const MARKERS: [Marker; 3] = [Marker::Circle, Marker::Triangle, Marker::Cross];
    SeriesStyle {
        color: PALETTE[index % PALETTE.len()],
        marker: MARKERS[(index / PALETTE.len()) % MARKERS.len()],
    }
}

type Chart<'a, 'svg> =
    ChartContext<'a, SVGBackend<'svg>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws the marker of `style` at each of `points`.
fn draw_markers(
    chart: &mut Chart,
    points: impl Iterator<Item = (f64, f64)>,
    style: &SeriesStyle,
) -> anyhow::Result<()> {
    let color = style.color;
    match style.marker {
        Marker::Circle => {
            chart
                .draw_series(points.map(|point| Circle::new(point, MARKER_SIZE, color.filled())))?;
        }
        Marker::Triangle => {
            chart.draw_series(
                points.map(|point| TriangleMarker::new(point, MARKER_SIZE + 1, color.filled())),
            )?;
        }
        Marker::Cross => {
            chart.draw_series(
                points.map(|point| Cross::new(point, MARKER_SIZE, color.stroke_width(2))),
            )?;
        }
    }
    Ok(())
}

/// Draws the marker of `style` at `center`, in pixels from the top left corner of `area`.
fn draw_legend_marker(
    area: &DrawingArea<SVGBackend, Shift>,
    center: (i32, i32),
    style: &SeriesStyle,
) -> anyhow::Result<()> {
    let color = style.color;
    match style.marker {
        Marker::Circle => area.draw(&Circle::new(center, MARKER_SIZE, color.filled()))?,
        Marker::Triangle => area.draw(&TriangleMarker::new(
            center,
            MARKER_SIZE + 1,
            color.filled(),
        ))?,
        Marker::Cross => area.draw(&Cross::new(center, MARKER_SIZE, color.stroke_width(2)))?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns a series of `x.len()` points with `y = 0.5 + 0.1 * x`.
    fn series(label: &str, x: &[f64], y_err: Option<Vec<f64>>) -> Series {
        Series {
            label: label.to_string(),
            x: x.to_vec(),
            y: x.iter().map(|x| 0.5 + 0.1 * x).collect(),
            y_err,
        }
    }

    /// Returns `color` as plotters writes it into SVG attributes.
    fn hex(color: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", color.0, color.1, color.2)
    }

    /// Counts the elements named `tag` whose `stroke` attribute is `color`.
    fn count_stroked(document: &roxmltree::Document, tag: &str, color: RGBColor) -> usize {
        let color = hex(color);
        document
            .descendants()
            .filter(|node| node.has_tag_name(tag))
            .filter(|node| node.attribute("stroke") == Some(color.as_str()))
            .count()
    }

    /// Returns the trimmed content of every `<text>` element.
    fn texts(document: &roxmltree::Document) -> Vec<String> {
        document
            .descendants()
            .filter(|node| node.has_tag_name("text"))
            .map(|node| node.text().unwrap_or("").trim().to_string())
            .collect()
    }

    fn two_series_svg() -> String {
        let lambdas = [0.0, 0.01, 0.1, 1.0];
        render_line_plot(
            "Test accuracy vs lambda",
            "lambda",
            "test accuracy",
            &[
                series("exact", &lambdas, Some(vec![0.01, 0.02, 0.015, 0.03])),
                series("unbiased", &lambdas, None),
            ],
        )
        .unwrap()
    }

    #[test]
    fn plot_is_xml_with_one_line_per_series() {
        let svg = two_series_svg();
        let document = roxmltree::Document::parse(&svg).unwrap();

        assert_eq!(document.root_element().tag_name().name(), "svg");
        // One polyline for the data and one for the legend sample.
        assert_eq!(count_stroked(&document, "polyline", PALETTE[0]), 2);
        assert_eq!(count_stroked(&document, "polyline", PALETTE[1]), 2);
        let circles = document
            .descendants()
            .filter(|node| node.has_tag_name("circle"))
            .count();
        // Per series: four markers and one legend marker, plus the circle that plotters draws
        // at the centre of each of the four error bars.
        assert_eq!(circles, 2 * 5 + 4);
    }

    #[test]
    fn plot_contains_title_and_labels() {
        let svg = two_series_svg();
        let document = roxmltree::Document::parse(&svg).unwrap();
        let texts = texts(&document);

        for expected in [
            "Test accuracy vs lambda",
            "lambda",
            "test accuracy",
            "exact",
            "unbiased",
        ] {
            assert!(
                texts.iter().any(|text| text == expected),
                "no <text> with {expected:?} in {texts:?}"
            );
        }
    }

    #[test]
    fn error_bars_only_where_given() {
        let svg = two_series_svg();
        let document = roxmltree::Document::parse(&svg).unwrap();

        // Each error bar is a vertical line and two caps.
        assert_eq!(count_stroked(&document, "line", PALETTE[0]), 3 * 4);
        assert_eq!(count_stroked(&document, "line", PALETTE[1]), 0);
    }

    #[test]
    fn axes_include_error_bars() {
        let lambdas = [0.0, 1.0];
        let svg = render_line_plot(
            "t",
            "x",
            "y",
            &[Series {
                label: "a".to_string(),
                x: lambdas.to_vec(),
                y: vec![0.5, 0.5],
                y_err: Some(vec![0.0, 0.4]),
            }],
        )
        .unwrap();
        let document = roxmltree::Document::parse(&svg).unwrap();
        let texts = texts(&document);

        // The y axis spans [0.1, 0.9] plus the margin, so ticks 0.1 and 0.9 appear.
        assert!(texts.iter().any(|text| text == "0.1"), "{texts:?}");
        assert!(texts.iter().any(|text| text == "0.9"), "{texts:?}");
    }

    #[test]
    fn text_is_escaped() {
        let svg = render_line_plot(
            "a < b & c",
            "x",
            "y",
            &[series("\"quoted\" <label>", &[1.0, 2.0], None)],
        )
        .unwrap();
        let document = roxmltree::Document::parse(&svg).unwrap();
        let texts = texts(&document);

        assert!(texts.iter().any(|text| text == "a < b & c"), "{texts:?}");
        assert!(
            texts.iter().any(|text| text == "\"quoted\" <label>"),
            "{texts:?}"
        );
    }

    #[test]
    fn single_point_series_draws() {
        let svg =
            render_line_plot("t", "x", "y", &[series("one", &[3.0], Some(vec![0.0]))]).unwrap();
        let document = roxmltree::Document::parse(&svg).unwrap();
        let texts = texts(&document);

        assert!(texts.iter().any(|text| text == "one"), "{texts:?}");
        // The marker plus the legend marker, and the error bar's centre circle.
        let circles = document
            .descendants()
            .filter(|node| node.has_tag_name("circle"))
            .count();
        assert_eq!(circles, 3);
        // Both axes get ticks around the point: x = 3 and y = 0.8.
        assert!(texts.iter().any(|text| text == "3.0"), "{texts:?}");
        assert!(texts.iter().any(|text| text == "0.80"), "{texts:?}");
    }

    #[test]
    fn constant_zero_series_draws() {
        let svg = render_line_plot(
            "t",
            "x",
            "y",
            &[Series {
                label: "zero".to_string(),
                x: vec![0.0, 0.0],
                y: vec![0.0, 0.0],
                y_err: None,
            }],
        )
        .unwrap();
        let document = roxmltree::Document::parse(&svg).unwrap();
        let texts = texts(&document);

        // Both axes span [-1, 1].
        for expected in ["-1.0", "0.0", "1.0"] {
            let count = texts.iter().filter(|text| *text == expected).count();
            assert_eq!(count, 2, "tick {expected:?} in {texts:?}");
        }
    }

    #[test]
    fn unlabelled_series_has_no_legend() {
        let svg = render_line_plot("t", "x", "y", &[series("", &[1.0, 2.0], None)]).unwrap();
        let document = roxmltree::Document::parse(&svg).unwrap();

        assert_eq!(
            document.root_element().attribute("width"),
            Some(PLOT_WIDTH.to_string().as_str())
        );
        assert_eq!(count_stroked(&document, "polyline", PALETTE[0]), 1);
    }

    #[test]
    fn long_legend_extends_canvas() {
        let series: Vec<Series> = (0..30)
            .map(|index| series(&format!("run {index}"), &[1.0, 2.0], None))
            .collect();
        let svg = render_line_plot("t", "x", "y", &series).unwrap();
        let document = roxmltree::Document::parse(&svg).unwrap();

        let height: f64 = document
            .root_element()
            .attribute("height")
            .unwrap()
            .parse()
            .unwrap();
        assert!(height > PLOT_HEIGHT as f64, "height {height}");
        let last_label = document
            .descendants()
            .find(|node| node.has_tag_name("text") && node.text().unwrap().trim() == "run 29")
            .unwrap();
        let y: f64 = last_label.attribute("y").unwrap().parse().unwrap();
        assert!(
            y + LEGEND_FONT_SIZE as f64 <= height,
            "y {y}, height {height}"
        );
    }

    #[test]
    fn series_styles_are_distinct() {
        let mut seen = Vec::new();
        for index in 0..30 {
            let style = series_style(index);
            let key = (style.color, style.marker as u8);
            assert!(!seen.contains(&key), "series {index} repeats a style");
            seen.push(key);
        }
    }

    #[test]
    fn empty_series_list_is_error() {
        let error = render_line_plot("t", "x", "y", &[]).unwrap_err();
        assert!(
            format!("{error:#}").contains("series list is empty"),
            "{error:#}"
        );
    }

    #[test]
    fn mismatched_lengths_are_errors() {
        let mut short_y = series("accuracy", &[1.0, 2.0, 3.0], None);
        short_y.y.pop();
        let error = render_line_plot("t", "x", "y", &[short_y]).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("series 0 (\"accuracy\")"), "{message}");
        assert!(message.contains("x has 3 values but y has 2"), "{message}");

        let short_errors = series("loss", &[1.0, 2.0, 3.0], Some(vec![0.1]));
        let valid = series("ok", &[1.0], None);
        let error = render_line_plot("t", "x", "y", &[valid, short_errors]).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("series 1 (\"loss\")"), "{message}");
        assert!(
            message.contains("y has 3 values but y_err has 1"),
            "{message}"
        );
    }

    #[test]
    fn non_finite_values_are_errors() {
        let mut nan_y = series("a", &[1.0, 2.0], None);
        nan_y.y[1] = f64::NAN;
        let mut infinite_x = series("b", &[1.0, 2.0], None);
        infinite_x.x[0] = f64::INFINITY;
        let nan_error = series("c", &[1.0, 2.0], Some(vec![0.1, f64::NAN]));

        for (line, expected) in [
            (nan_y, "y[1] is NaN"),
            (infinite_x, "x[0] is inf"),
            (nan_error, "y_err[1] is NaN"),
        ] {
            let error = render_line_plot("t", "x", "y", &[line]).unwrap_err();
            let message = format!("{error:#}");
            assert!(message.contains(expected), "{message}");
            assert!(message.contains("must be finite"), "{message}");
        }
    }

    #[test]
    fn negative_error_is_error() {
        let line = series("a", &[1.0, 2.0], Some(vec![0.1, -0.2]));
        let error = render_line_plot("t", "x", "y", &[line]).unwrap_err();
        assert!(
            format!("{error:#}").contains("y_err[1] is -0.2"),
            "{error:#}"
        );
    }

    #[test]
    fn empty_series_is_error() {
        let error = render_line_plot("t", "x", "y", &[series("a", &[], None)]).unwrap_err();
        assert!(format!("{error:#}").contains("has no points"), "{error:#}");
    }

    #[test]
    fn overflowing_range_is_error() {
        let line = series("a", &[-f64::MAX, f64::MAX], None);
        let error = render_line_plot("t", "x", "y", &[line]).unwrap_err();
        assert!(format!("{error:#}").contains("too wide"), "{error:#}");
    }

    #[test]
    fn tick_labels_are_readable() {
        let cases: [((f64, f64), &[&str]); 8] = [
            ((0.0, 1.0), &["0.0", "0.2", "1.0"]),
            ((0.9, 0.95), &["0.90", "0.95"]),
            ((-3.0, 3.0), &["-2", "0", "2"]),
            ((0.0, 2e6), &["0", "1.0e6", "2.0e6"]),
            ((-1e6, 1e6), &["-1.0e6", "0", "5.0e5"]),
            ((1e-5, 5e-5), &["1.0e-5", "4.5e-5"]),
            // Plotters 0.3.7 draws a single tick on a range shorter than f64::EPSILON.
            ((1e-20, 2e-20), &["1e-20"]),
            ((1234.0, 1236.0), &["1234.0", "1236.0"]),
        ];
        for (range, expected) in cases {
            let format = TickFormat::new(range);
            let labels: Vec<String> = format.ticks.iter().map(|&t| format.format(t)).collect();
            for label in expected {
                assert!(
                    labels.iter().any(|l| l == label),
                    "range {range:?}: no tick {label:?} in {labels:?}"
                );
            }
        }
    }

    #[test]
    fn file_is_written() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("accuracy.svg");

        line_plot_svg(&path, "t", "x", "y", &[series("a", &[1.0, 2.0], None)]).unwrap();

        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(roxmltree::Document::parse(&svg).is_ok());
    }

    #[test]
    fn failed_plot_names_file() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("accuracy.svg");

        let error = line_plot_svg(&path, "t", "x", "y", &[]).unwrap_err();

        assert!(format!("{error:#}").contains("accuracy.svg"), "{error:#}");
        assert!(!path.exists());
    }
}
