//! From u8 images to normalized input batches.

use crate::{FeatureShape, MasoError, Result};
use burn::tensor::{Device, Int, Tensor, TensorData};
use maso_data::Dataset;
use serde::{Deserialize, Serialize};

/// Mapping from pixels to network inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Normalization {
    /// Each image has its own mean subtracted and is divided by its maximum absolute value,
    /// as in the spline-theory authors' experiments. A constant image becomes all zeros.
    PerImage,
    /// `(pixel / 255 - mean) / std` with the training set's mean and standard deviation.
    Standard { mean: f32, std: f32 },
    /// `pixel / 255`.
    Unit,
}

impl Normalization {
    /// Standard scaling with the mean and standard deviation of `data`'s pixels.
    pub fn standard_for(data: &Dataset) -> Self {
        let count = data.images.len().max(1) as f64;
        let mean = data.images.iter().map(|&p| p as f64 / 255.0).sum::<f64>() / count;
        let var = data
            .images
            .iter()
            .map(|&p| (p as f64 / 255.0 - mean).powi(2))
            .sum::<f64>()
            / count;
        Self::Standard {
            mean: mean as f32,
            std: var.sqrt().max(1e-6) as f32,
        }
    }

    /// Normalizes one image's pixels into `out`.
    pub fn apply(&self, pixels: &[u8], out: &mut Vec<f32>) {
        match *self {
            Self::Unit => out.extend(pixels.iter().map(|&p| p as f32 / 255.0)),
            Self::Standard { mean, std } => {
                out.extend(pixels.iter().map(|&p| (p as f32 / 255.0 - mean) / std))
            }
            Self::PerImage => {
                let mean =
                    pixels.iter().map(|&p| p as f32).sum::<f32>() / pixels.len().max(1) as f32;
                let peak = pixels
                    .iter()
                    .map(|&p| (p as f32 - mean).abs())
                    .fold(0.0f32, f32::max);
                let scale = if peak > 0.0 { 1.0 / peak } else { 0.0 };
                out.extend(pixels.iter().map(|&p| (p as f32 - mean) * scale));
            }
        }
    }
}

/// Checks that a data set is usable by a network with input `shape` and `classes` outputs.
pub fn check_dataset(data: &Dataset, shape: FeatureShape, classes: usize) -> Result<()> {
    if data.is_empty() {
        return Err(MasoError::Empty {
            what: format!("data set `{}`", data.name),
        });
    }
    data.validate()?;
    let [c, h, w] = data.shape;
    let images = FeatureShape::new(c, h, w);
    if images != shape {
        let mut expected = format!("images of shape {shape} (the network's input)");
        if images.numel() == shape.numel() {
            expected.push_str(&format!(
                ", which has as many features in another layout; a model that takes flattened \
                 images needs its input shape set to {images} (`--input-shape {c}x{h}x{w}` for an \
                 imported model)"
            ));
        }
        return Err(MasoError::shape(
            &format!("data set `{}`", data.name),
            expected,
            images,
        ));
    }
    if data.num_classes > classes {
        return Err(MasoError::shape(
            &format!("data set `{}`", data.name),
            format!("at most {classes} classes (the network's outputs)"),
            format!("{} classes", data.num_classes),
        ));
    }
    Ok(())
}

/// Builds the normalized images `indices` of `data` as a `[indices.len(), features]` tensor.
pub fn images_tensor(
    data: &Dataset,
    indices: &[usize],
    normalization: Normalization,
    device: &Device,
) -> Tensor<2> {
    let features = data.image_len();
    let mut values = Vec::with_capacity(indices.len() * features);
    for &i in indices {
        normalization.apply(data.image(i), &mut values);
    }
    Tensor::from_data(TensorData::new(values, [indices.len(), features]), device)
}

/// Builds the labels `indices` of `data` as a `[indices.len()]` integer tensor.
pub fn labels_tensor(data: &Dataset, indices: &[usize], device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = indices.iter().map(|&i| data.labels[i] as i64).collect();
    Tensor::from_data(TensorData::new(labels, [indices.len()]), device)
}
