//! PNG figures of class templates: one row per example, the input first and then one template
//! per class, each template drawn with a signed, diverging colour map.

use std::path::Path;

use anyhow::{Context, bail, ensure};
use image::{ImageEncoder, Rgb, RgbImage};

use crate::output::write_atomic;

/// Width in pixels of the gutter between cells and around the grid.
const GUTTER: u32 = 2;
const GUTTER_COLOR: Rgb<u8> = Rgb([210, 210, 210]);
const PREDICTED_FRAME_COLOR: Rgb<u8> = Rgb([0, 0, 0]);
const LABEL_FRAME_COLOR: Rgb<u8> = Rgb([0, 170, 0]);

/// End points of the diverging colour map: the dark red (#b2182b) and dark blue (#2166ac) of
/// ColorBrewer's RdBu scheme. Values in between are interpolated linearly from white.
const POSITIVE_COLOR: [u8; 3] = [178, 24, 43];
const NEGATIVE_COLOR: [u8; 3] = [33, 102, 172];
/// Colour of NaN values, which lie outside the colour map.
const NAN_COLOR: [u8; 3] = [0, 0, 0];

/// The PNG format limits each dimension to 2^31 - 1 pixels.
const MAX_PNG_DIMENSION: u64 = (1 << 31) - 1;

/// Figure of class templates with one row per example: the input image first, then one template
/// per class.
///
/// Layout: cells of `H * zoom` by `W * zoom` pixels (nearest-neighbour upscaling), with a
/// [`GUTTER`]-pixel light-gray gutter between cells and around the grid. The image is therefore
/// `GUTTER + (classes + 1) * (W * zoom + GUTTER)` pixels wide and
/// `GUTTER + examples * (H * zoom + GUTTER)` pixels high.
///
/// The true class (from `labels`) gets a green frame in the gutter pixels next to its cell, and
/// the predicted class (from `predicted`) a black frame on the outermost pixels of its cell, so a
/// correct prediction shows both.
pub struct TemplateGrid<'a> {
    /// `examples` images, each `C x H x W`, row-major, already scaled to [0, 1].
    /// Values outside [0, 1] are clamped.
    pub inputs: &'a [f32],
    /// `examples x classes x C x H x W` template values, any real values.
    pub templates: &'a [f32],
    pub examples: usize,
    pub classes: usize,
    /// `[C, H, W]`, with `C` 1 (gray) or 3 (RGB).
    pub shape: [usize; 3],
    /// Integer upscaling factor, at least 1.
    pub zoom: u32,
    /// True class of each example, one per row.
    pub labels: Option<&'a [usize]>,
    /// Predicted class of each example, one per row.
    pub predicted: Option<&'a [usize]>,
}

/// Pixel geometry of a validated grid.
struct Layout {
    cell_width: u32,
    cell_height: u32,
    width: u32,
    height: u32,
}

impl Layout {
    /// Returns the top-left pixel of the cell in `row` and `column` (column 0 is the input).
    fn cell_origin(&self, row: usize, column: usize) -> (u32, u32) {
        let x = GUTTER + column as u32 * (self.cell_width + GUTTER);
        let y = GUTTER + row as u32 * (self.cell_height + GUTTER);
        (x, y)
    }
}

impl TemplateGrid<'_> {
    /// Renders the grid into an RGB image.
    ///
    /// Returns an error if a length, class index, channel count or the zoom is invalid, or if
    /// the image would exceed the PNG size limit.
    pub fn render(&self) -> anyhow::Result<RgbImage> {
        let layout = self.validate()?;
        let [channels, height, width] = self.shape;
        let image_size = channels * height * width;
        let mut image = RgbImage::from_pixel(layout.width, layout.height, GUTTER_COLOR);

        for example in 0..self.examples {
            let input = &self.inputs[example * image_size..(example + 1) * image_size];
            let (x, y) = layout.cell_origin(example, 0);
            let pixels = input_to_rgb(input, channels, height, width);
            draw_cell(&mut image, &pixels, width, x, y, self.zoom);

            for class in 0..self.classes {
                let start = (example * self.classes + class) * image_size;
                let template = &self.templates[start..start + image_size];
                let signed = average_channels(template, channels, height * width);
                let pixels = signed_to_rgb(&signed, height, width)?;
                let (x, y) = layout.cell_origin(example, 1 + class);
                draw_cell(&mut image, &pixels, width, x, y, self.zoom);
            }
        }

        self.draw_frames(&mut image, &layout);
        Ok(image)
    }

    /// Renders the grid and writes it to `path` as a PNG, atomically.
    pub fn write_png(&self, path: &Path) -> anyhow::Result<()> {
        let image = self.render().with_context(|| {
            format!("failed to render the template grid for {}", path.display())
        })?;
        let mut bytes = Vec::new();
        image::codecs::png::PngEncoder::new(&mut bytes)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                image::ExtendedColorType::Rgb8,
            )
            .with_context(|| format!("failed to encode PNG for {}", path.display()))?;
        write_atomic(path, &bytes)
    }

    /// Checks every length, index and size, and computes the pixel layout.
    fn validate(&self) -> anyhow::Result<Layout> {
        let [channels, height, width] = self.shape;
        ensure!(
            channels == 1 || channels == 3,
            "invalid template grid: shape {:?} has {channels} channels, expected 1 (gray) or 3 (RGB)",
            self.shape
        );
        ensure!(
            height > 0 && width > 0,
            "invalid template grid: shape {:?} has an empty image",
            self.shape
        );
        ensure!(
            self.examples > 0,
            "invalid template grid: no examples to draw"
        );
        ensure!(
            self.classes > 0,
            "invalid template grid: no classes to draw"
        );
        ensure!(
            self.zoom >= 1,
            "invalid template grid: zoom is {}, expected at least 1",
            self.zoom
        );

        let image_size = checked_product(&[channels, height, width])?;
        let expected_inputs = checked_product(&[self.examples, image_size])?;
        ensure!(
            self.inputs.len() == expected_inputs,
            "invalid template grid: inputs has {} values, expected {expected_inputs} \
             ({} examples x {channels} x {height} x {width})",
            self.inputs.len(),
            self.examples
        );
        let expected_templates = checked_product(&[self.examples, self.classes, image_size])?;
        ensure!(
            self.templates.len() == expected_templates,
            "invalid template grid: templates has {} values, expected {expected_templates} \
             ({} examples x {} classes x {channels} x {height} x {width})",
            self.templates.len(),
            self.examples,
            self.classes
        );
        self.validate_classes("labels", self.labels)?;
        self.validate_classes("predicted", self.predicted)?;

        self.layout()
    }

    /// Checks that `indices` has one class index below `classes` per example.
    fn validate_classes(&self, name: &str, indices: Option<&[usize]>) -> anyhow::Result<()> {
        let Some(indices) = indices else {
            return Ok(());
        };
        ensure!(
            indices.len() == self.examples,
            "invalid template grid: {name} has {} entries, expected {} (one per example)",
            indices.len(),
            self.examples
        );
        for (example, &class) in indices.iter().enumerate() {
            ensure!(
                class < self.classes,
                "invalid template grid: {name}[{example}] is {class}, expected a class index below {}",
                self.classes
            );
        }
        Ok(())
    }

    /// Computes cell and image sizes, rejecting images over the PNG dimension limit.
    // NOTE: the total pixel count is not limited, so a large zoom with many examples can still
    // request more memory than the machine has.
    fn layout(&self) -> anyhow::Result<Layout> {
        let [_, height, width] = self.shape;
        let zoom = u64::from(self.zoom);
        let gutter = u64::from(GUTTER);
        let columns = self.classes as u64 + 1;
        let rows = self.examples as u64;

        // Each step is checked, so the sizes below fit in u64 before the PNG limit check.
        let cell_width = (width as u64).checked_mul(zoom);
        let cell_height = (height as u64).checked_mul(zoom);
        let image_width = cell_width
            .and_then(|cell| cell.checked_add(gutter))
            .and_then(|pitch| pitch.checked_mul(columns))
            .and_then(|total| total.checked_add(gutter));
        let image_height = cell_height
            .and_then(|cell| cell.checked_add(gutter))
            .and_then(|pitch| pitch.checked_mul(rows))
            .and_then(|total| total.checked_add(gutter));
        let (Some(cell_width), Some(cell_height), Some(image_width), Some(image_height)) =
            (cell_width, cell_height, image_width, image_height)
        else {
            bail!(
                "invalid template grid: the image size overflows u64 (zoom {}), so reduce zoom",
                self.zoom
            );
        };
        ensure!(
            image_width <= MAX_PNG_DIMENSION && image_height <= MAX_PNG_DIMENSION,
            "invalid template grid: the image would be {image_width} x {image_height} pixels, \
             over the PNG limit of {MAX_PNG_DIMENSION} per side; reduce zoom or the example count"
        );

        Ok(Layout {
            cell_width: cell_width as u32,
            cell_height: cell_height as u32,
            width: image_width as u32,
            height: image_height as u32,
        })
    }

    fn draw_frames(&self, image: &mut RgbImage, layout: &Layout) {
        for example in 0..self.examples {
            if let Some(labels) = self.labels {
                let (x, y) = layout.cell_origin(example, 1 + labels[example]);
                // The gutter ring just outside the cell.
                draw_outline(
                    image,
                    x - 1,
                    y - 1,
                    layout.cell_width + 2,
                    layout.cell_height + 2,
                    LABEL_FRAME_COLOR,
                );
            }
            if let Some(predicted) = self.predicted {
                let (x, y) = layout.cell_origin(example, 1 + predicted[example]);
                // The outermost pixel ring of the cell itself.
                draw_outline(
                    image,
                    x,
                    y,
                    layout.cell_width,
                    layout.cell_height,
                    PREDICTED_FRAME_COLOR,
                );
            }
        }
    }
}

/// Maps signed values to colours: blue for negative, white for zero, red for positive.
///
/// The scale is symmetric and set by the largest finite absolute value, so that value gets the
/// full colour. Infinite values get the full colour of their sign and NaN draws black.
///
/// Returns an error if `values.len()` differs from `height * width`.
pub fn signed_to_rgb(values: &[f32], height: usize, width: usize) -> anyhow::Result<Vec<[u8; 3]>> {
    let expected = checked_product(&[height, width])?;
    ensure!(
        values.len() == expected,
        "invalid signed image: {} values, expected {expected} ({height} x {width})",
        values.len()
    );

    let scale = values
        .iter()
        .filter(|value| value.is_finite())
        .fold(0.0f32, |max, value| max.max(value.abs()));
    let pixels = values
        .iter()
        .map(|&value| {
            if value.is_nan() {
                return NAN_COLOR;
            }
            // Without a finite non-zero value the scale is 0, and 0 / 0 would be NaN.
            let ratio = if scale > 0.0 {
                (value / scale).clamp(-1.0, 1.0)
            } else if value == 0.0 {
                0.0
            } else {
                value.signum()
            };
            let end = if ratio >= 0.0 {
                POSITIVE_COLOR
            } else {
                NEGATIVE_COLOR
            };
            let strength = ratio.abs();
            end.map(|channel| (255.0 + strength * (f32::from(channel) - 255.0)).round() as u8)
        })
        .collect();
    Ok(pixels)
}

/// Draws nearest-neighbour rows: one row per code layer, the query image first (framed in
/// black) and then its neighbours from `database`, left to right by distance. Writes a PNG,
/// atomically.
pub fn write_neighbor_grid(
    path: &Path,
    query: &[u8],
    rows: &[Vec<usize>],
    database: &maso_data::Dataset,
) -> anyhow::Result<()> {
    let [channels, height, width] = database.shape;
    anyhow::ensure!(
        query.len() == channels * height * width,
        "the query image has {} values, but the database images have {}",
        query.len(),
        channels * height * width
    );
    let zoom = 2u32;
    let cell_w = width as u32 * zoom + GUTTER;
    let cell_h = height as u32 * zoom + GUTTER;
    let columns = 1 + rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let mut image = RgbImage::from_pixel(
        GUTTER + columns * cell_w,
        GUTTER + rows.len().max(1) as u32 * cell_h,
        GUTTER_COLOR,
    );
    let to_unit = |pixels: &[u8]| {
        pixels
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect::<Vec<f32>>()
    };
    let query_pixels = input_to_rgb(&to_unit(query), channels, height, width);
    for (row, neighbors) in rows.iter().enumerate() {
        let y = GUTTER + row as u32 * cell_h;
        draw_cell(&mut image, &query_pixels, width, GUTTER, y, zoom);
        draw_outline(
            &mut image,
            GUTTER,
            y,
            width as u32 * zoom,
            height as u32 * zoom,
            PREDICTED_FRAME_COLOR,
        );
        for (column, &index) in neighbors.iter().enumerate() {
            anyhow::ensure!(
                index < database.len(),
                "neighbour index {index} is outside {} ({} images)",
                database.name,
                database.len()
            );
            let pixels = input_to_rgb(&to_unit(database.image(index)), channels, height, width);
            draw_cell(
                &mut image,
                &pixels,
                width,
                GUTTER + (column as u32 + 1) * cell_w,
                y,
                zoom,
            );
        }
    }
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|error| anyhow::anyhow!("failed to encode {}: {error}", path.display()))?;
    crate::output::write_atomic(path, &bytes)
}

/// Converts one `channels x height x width` input in [0, 1] to gray or RGB pixels.
fn input_to_rgb(input: &[f32], channels: usize, height: usize, width: usize) -> Vec<[u8; 3]> {
    let plane = height * width;
    (0..plane)
        .map(|pixel| {
            if channels == 1 {
                let gray = unit_to_byte(input[pixel]);
                [gray, gray, gray]
            } else {
                [0, 1, 2].map(|channel| unit_to_byte(input[channel * plane + pixel]))
            }
        })
        .collect()
}

/// Maps [0, 1] to 0..=255, clamping values outside. NaN maps to 0.
fn unit_to_byte(value: f32) -> u8 {
    (value.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Averages a `channels x plane` template over its channels into one signed map.
fn average_channels(template: &[f32], channels: usize, plane: usize) -> Vec<f32> {
    (0..plane)
        .map(|pixel| {
            let sum: f32 = (0..channels)
                .map(|channel| template[channel * plane + pixel])
                .sum();
            sum / channels as f32
        })
        .collect()
}

/// Draws `pixels` (row-major, `width` per row) with its top-left corner at (`x0`, `y0`),
/// each pixel as a `zoom x zoom` block.
fn draw_cell(image: &mut RgbImage, pixels: &[[u8; 3]], width: usize, x0: u32, y0: u32, zoom: u32) {
    for (index, &color) in pixels.iter().enumerate() {
        let column = (index % width) as u32;
        let row = (index / width) as u32;
        for dy in 0..zoom {
            for dx in 0..zoom {
                image.put_pixel(x0 + column * zoom + dx, y0 + row * zoom + dy, Rgb(color));
            }
        }
    }
}

/// Draws a 1-pixel rectangle outline with its top-left corner at (`x`, `y`).
fn draw_outline(image: &mut RgbImage, x: u32, y: u32, width: u32, height: u32, color: Rgb<u8>) {
    let right = x + width - 1;
    let bottom = y + height - 1;
    for column in x..=right {
        image.put_pixel(column, y, color);
        image.put_pixel(column, bottom, color);
    }
    for row in y..=bottom {
        image.put_pixel(x, row, color);
        image.put_pixel(right, row, color);
    }
}

fn checked_product(factors: &[usize]) -> anyhow::Result<usize> {
    factors
        .iter()
        .try_fold(1usize, |product, &factor| product.checked_mul(factor))
        .with_context(|| format!("invalid size: the product of {factors:?} overflows usize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: Rgb<u8> = Rgb([255, 255, 255]);

    /// Returns `examples` gray 4 x 5 inputs at 0.5 and all-zero templates for `classes` classes.
    fn gray_grid_data(examples: usize, classes: usize) -> (Vec<f32>, Vec<f32>) {
        let inputs = vec![0.5; examples * 4 * 5];
        let templates = vec![0.0; examples * classes * 4 * 5];
        (inputs, templates)
    }

    fn grid<'a>(
        inputs: &'a [f32],
        templates: &'a [f32],
        examples: usize,
        classes: usize,
    ) -> TemplateGrid<'a> {
        TemplateGrid {
            inputs,
            templates,
            examples,
            classes,
            shape: [1, 4, 5],
            zoom: 3,
            labels: None,
            predicted: None,
        }
    }

    #[test]
    fn render_size_matches_layout() {
        let (inputs, templates) = gray_grid_data(2, 3);

        let image = grid(&inputs, &templates, 2, 3).render().unwrap();

        // Width: 4 columns of 5 * 3 pixels, 5 gutters. Height: 2 rows of 4 * 3 pixels, 3 gutters.
        assert_eq!(image.width(), 4 * 15 + 5 * 2);
        assert_eq!(image.height(), 2 * 12 + 3 * 2);
    }

    #[test]
    fn render_size_at_zoom_one() {
        let (inputs, templates) = gray_grid_data(1, 10);
        let mut grid = grid(&inputs, &templates, 1, 10);
        grid.zoom = 1;

        let image = grid.render().unwrap();

        assert_eq!(image.width(), 11 * 5 + 12 * 2);
        assert_eq!(image.height(), 4 + 2 * 2);
    }

    #[test]
    fn zero_template_is_white() {
        let (inputs, templates) = gray_grid_data(1, 2);

        let image = grid(&inputs, &templates, 1, 2).render().unwrap();

        for column in 1..=2 {
            let x0 = GUTTER + column * (15 + GUTTER);
            for y in GUTTER..GUTTER + 12 {
                for x in x0..x0 + 15 {
                    assert_eq!(*image.get_pixel(x, y), WHITE, "pixel ({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn signed_template_colors() {
        let (inputs, mut templates) = gray_grid_data(1, 1);
        templates[0] = 2.0;
        templates[1] = -1.0;

        let image = grid(&inputs, &templates, 1, 1).render().unwrap();

        // The template cell starts after the input cell. Zoom 3 puts template pixel 1 at x0 + 3.
        let x0 = GUTTER + 15 + GUTTER;
        let positive = image.get_pixel(x0 + 1, GUTTER + 1).0;
        let negative = image.get_pixel(x0 + 4, GUTTER + 1).0;
        let zero = image.get_pixel(x0 + 7, GUTTER + 1).0;
        assert_eq!(positive, POSITIVE_COLOR);
        assert!(
            positive[0] > positive[2],
            "positive pixel {positive:?} is not reddish"
        );
        assert!(
            negative[2] > negative[0],
            "negative pixel {negative:?} is not bluish"
        );
        assert_eq!(zero, [255, 255, 255]);
    }

    #[test]
    fn signed_scale_is_symmetric() {
        let pixels = signed_to_rgb(&[1.0, -1.0, 0.5, -0.5, 0.0], 1, 5).unwrap();

        assert_eq!(pixels[0], POSITIVE_COLOR);
        assert_eq!(pixels[1], NEGATIVE_COLOR);
        assert_eq!(pixels[2], [217, 140, 149]);
        assert_eq!(pixels[3], [144, 179, 214]);
        assert_eq!(pixels[4], [255, 255, 255]);
    }

    #[test]
    fn signed_non_finite_values() {
        let pixels =
            signed_to_rgb(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.5], 2, 2).unwrap();

        assert_eq!(pixels[0], NAN_COLOR);
        assert_eq!(pixels[1], POSITIVE_COLOR);
        assert_eq!(pixels[2], NEGATIVE_COLOR);
        assert_eq!(pixels[3], POSITIVE_COLOR);
    }

    #[test]
    fn signed_length_mismatch_is_error() {
        let error = signed_to_rgb(&[1.0; 5], 2, 3).unwrap_err();

        assert!(
            error.to_string().contains("5 values, expected 6"),
            "{error}"
        );
    }

    #[test]
    fn input_reproduces_gray_levels() {
        let examples = 1;
        let (mut inputs, templates) = gray_grid_data(examples, 1);
        inputs[0] = 0.0;
        inputs[1] = 1.0;
        inputs[2] = 0.25;
        inputs[3] = 1.5;

        let image = grid(&inputs, &templates, examples, 1).render().unwrap();

        let expected = [0u8, 255, 64, 255, 128];
        for (pixel, &level) in expected.iter().enumerate() {
            // Every pixel of the zoomed 3 x 3 block has the same level.
            for dy in 0..3 {
                for dx in 0..3 {
                    let x = GUTTER + pixel as u32 * 3 + dx;
                    let y = GUTTER + dy;
                    assert_eq!(*image.get_pixel(x, y), Rgb([level; 3]), "pixel ({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn rgb_input_and_averaged_template() {
        // One 3-channel 1 x 1 image: red input, template channels averaging to -1.
        let inputs = [1.0, 0.0, 0.5];
        let templates = [-3.0, 0.0, 0.0];
        let grid = TemplateGrid {
            inputs: &inputs,
            templates: &templates,
            examples: 1,
            classes: 1,
            shape: [3, 1, 1],
            zoom: 1,
            labels: None,
            predicted: None,
        };

        let image = grid.render().unwrap();

        assert_eq!(image.get_pixel(GUTTER, GUTTER).0, [255, 0, 128]);
        assert_eq!(
            image.get_pixel(GUTTER + 1 + GUTTER, GUTTER).0,
            NEGATIVE_COLOR
        );
    }

    #[test]
    fn frames_mark_label_and_prediction() {
        let (inputs, templates) = gray_grid_data(2, 3);
        let labels = [1, 2];
        let predicted = [1, 0];
        let mut grid = grid(&inputs, &templates, 2, 3);
        grid.labels = Some(&labels);
        grid.predicted = Some(&predicted);

        let image = grid.render().unwrap();

        let cell_x = |class: u32| GUTTER + (1 + class) * (15 + GUTTER);
        let cell_y = |row: u32| GUTTER + row * (12 + GUTTER);
        let center = |class: u32, row: u32| *image.get_pixel(cell_x(class) + 7, cell_y(row) + 6);
        // Row 0 is correct: green outside and black inside the class 1 cell.
        assert_eq!(
            *image.get_pixel(cell_x(1) - 1, cell_y(0) + 5),
            LABEL_FRAME_COLOR
        );
        assert_eq!(
            *image.get_pixel(cell_x(1), cell_y(0) + 5),
            PREDICTED_FRAME_COLOR
        );
        assert_eq!(
            *image.get_pixel(cell_x(1) + 14, cell_y(0) + 11),
            PREDICTED_FRAME_COLOR
        );
        assert_eq!(center(1, 0), WHITE);
        // Row 1 is wrong: green around class 2, black on class 0, nothing on class 1.
        assert_eq!(
            *image.get_pixel(cell_x(2) + 15, cell_y(1)),
            LABEL_FRAME_COLOR
        );
        assert_eq!(*image.get_pixel(cell_x(2), cell_y(1)), WHITE);
        assert_eq!(
            *image.get_pixel(cell_x(0), cell_y(1) + 3),
            PREDICTED_FRAME_COLOR
        );
        assert_eq!(*image.get_pixel(cell_x(0) - 1, cell_y(1) + 3), GUTTER_COLOR);
        assert_eq!(*image.get_pixel(cell_x(1) - 1, cell_y(1) + 3), GUTTER_COLOR);
        assert_eq!(*image.get_pixel(cell_x(1), cell_y(1) + 3), WHITE);
    }

    #[test]
    fn input_length_mismatch_is_error() {
        let (inputs, templates) = gray_grid_data(2, 3);

        let error = grid(&inputs[1..], &templates, 2, 3).render().unwrap_err();

        assert!(
            error
                .to_string()
                .contains("inputs has 39 values, expected 40"),
            "{error}"
        );
    }

    #[test]
    fn template_length_mismatch_is_error() {
        let (inputs, templates) = gray_grid_data(2, 3);

        let error = grid(&inputs, &templates, 2, 2).render().unwrap_err();

        assert!(
            error
                .to_string()
                .contains("templates has 120 values, expected 80"),
            "{error}"
        );
    }

    #[test]
    fn class_index_errors() {
        let (inputs, templates) = gray_grid_data(2, 3);
        let short: &[usize] = &[0];
        let out_of_range: &[usize] = &[0, 3];
        let cases = [
            (Some(short), None, "labels has 1 entries, expected 2"),
            (None, Some(short), "predicted has 1 entries, expected 2"),
            (
                Some(out_of_range),
                None,
                "labels[1] is 3, expected a class index below 3",
            ),
            (
                None,
                Some(out_of_range),
                "predicted[1] is 3, expected a class index below 3",
            ),
        ];

        for (labels, predicted, expected) in cases {
            let mut grid = grid(&inputs, &templates, 2, 3);
            grid.labels = labels;
            grid.predicted = predicted;
            let error = grid.render().unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn invalid_settings_are_errors() {
        let (inputs, templates) = gray_grid_data(2, 3);
        let mut zero_zoom = grid(&inputs, &templates, 2, 3);
        zero_zoom.zoom = 0;
        let mut two_channels = grid(&inputs, &templates, 2, 3);
        two_channels.shape = [2, 2, 5];
        let mut huge_zoom = grid(&inputs, &templates, 2, 3);
        huge_zoom.zoom = u32::MAX;

        let cases = [
            (zero_zoom, "zoom is 0"),
            (two_channels, "has 2 channels"),
            (huge_zoom, "over the PNG limit"),
            (grid(&[], &[], 0, 3), "no examples"),
        ];

        for (grid, expected) in cases {
            let error = grid.render().unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn write_png_round_trip() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("grid.png");
        let (inputs, templates) = gray_grid_data(2, 3);
        let grid = grid(&inputs, &templates, 2, 3);

        grid.write_png(&path).unwrap();

        let decoded = image::open(&path).unwrap().to_rgb8();
        assert_eq!(decoded, grid.render().unwrap());
    }

    #[test]
    fn write_png_error_names_path() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("grid.png");
        let (inputs, templates) = gray_grid_data(2, 3);

        let error = grid(&inputs, &templates, 3, 3)
            .write_png(&path)
            .unwrap_err();

        assert!(format!("{error:#}").contains("grid.png"), "{error:#}");
        assert!(!path.exists());
    }
}
