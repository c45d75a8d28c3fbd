//! Files written for a set of templates: .npy arrays for Python and a PNG grid.

use crate::figures::TemplateGrid;
use crate::output::{write_npy_f32, write_npy_i64};
use anyhow::Result;
use maso::templates::Templates;
use maso_data::Dataset;
use std::path::Path;

/// Examples drawn in `templates.png`.
pub const GRID_EXAMPLES: usize = 8;
/// Output units drawn per example in `templates.png` (all classes of a classifier).
pub const GRID_OUTPUTS: usize = 16;

/// Writes `inputs.npy` `[N, C, H, W]`, `templates.npy` `[N, K, C, H, W]`, `offsets.npy` and
/// `logits.npy` `[N, K]`, `labels.npy`, `predictions.npy` and `indices.npy` `[N]`, and
/// `templates.png` for the first examples. `logits` tells whether the outputs are the
/// network's logits, whose columns get the true and predicted class frames.
pub fn write_templates(
    dir: &Path,
    templates: &Templates,
    data: &Dataset,
    logits: bool,
) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|error| anyhow::anyhow!("cannot create {}: {error}", dir.display()))?;
    let n = templates.len();
    let k = templates.outputs;
    let [c, h, w] = data.shape;
    let labels: Vec<i64> = templates
        .indices
        .iter()
        .map(|&i| data.labels[i] as i64)
        .collect();
    let predictions = templates.predictions();
    let as_i64 = |values: &[usize]| values.iter().map(|&v| v as i64).collect::<Vec<_>>();

    write_npy_f32(&dir.join("inputs.npy"), &templates.inputs, &[n, c, h, w])?;
    write_npy_f32(
        &dir.join("templates.npy"),
        &templates.slopes,
        &[n, k, c, h, w],
    )?;
    write_npy_f32(&dir.join("offsets.npy"), &templates.offsets, &[n, k])?;
    write_npy_f32(
        &dir.join("logits.npy"),
        &templates.outputs_reference,
        &[n, k],
    )?;
    write_npy_i64(&dir.join("labels.npy"), &labels, &[n])?;
    write_npy_i64(&dir.join("predictions.npy"), &as_i64(&predictions), &[n])?;
    write_npy_i64(&dir.join("indices.npy"), &as_i64(&templates.indices), &[n])?;

    let shown = n.min(GRID_EXAMPLES);
    let columns = k.min(GRID_OUTPUTS);
    let features = templates.features;
    let mut inputs = Vec::with_capacity(shown * features);
    let mut slopes = Vec::with_capacity(shown * columns * features);
    for (row, &index) in templates.indices.iter().take(shown).enumerate() {
        inputs.extend(data.image(index).iter().map(|&p| p as f32 / 255.0));
        let start = row * k * features;
        slopes.extend_from_slice(&templates.slopes[start..start + columns * features]);
    }
    // Class frames only make sense when the outputs are the logits.
    let classifier = logits;
    let label_rows: Vec<usize> = labels.iter().take(shown).map(|&l| l as usize).collect();
    let predicted_rows: Vec<usize> = predictions.iter().take(shown).copied().collect();
    TemplateGrid {
        inputs: &inputs,
        templates: &slopes,
        examples: shown,
        classes: columns,
        shape: data.shape,
        zoom: 3,
        labels: classifier.then_some(label_rows.as_slice()),
        predicted: classifier.then_some(predicted_rows.as_slice()),
    }
    .write_png(&dir.join("templates.png"))
}
