//! `--model`: a checkpoint directory or an ONNX file exported from PyTorch.

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::Args;
use maso::checkpoint::{CHECKPOINT_FORMAT, CheckpointMeta, load_checkpoint};
use maso::data::Normalization;
use maso::{FeatureShape, Network};
use std::path::{Path, PathBuf};

/// Options that select the analyzed model.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Checkpoint directory written by `maso train` or `maso import`, or an ONNX file
    /// (`.onnx`) exported from PyTorch, which is imported on the fly.
    #[arg(long)]
    pub model: PathBuf,
    /// Shape of one input of an ONNX model, CxHxW (1x28x28) or a feature count (784). Needed
    /// when the model's input dimensions are symbolic.
    #[arg(long, value_parser = parse_shape)]
    pub input_shape: Option<FeatureShape>,
    /// Input normalization that the ONNX model was trained with: unit (pixel / 255),
    /// per-image, or standard:MEAN,STD ((pixel / 255 - MEAN) / STD). For a checkpoint, replaces
    /// the stored one. [default for ONNX: unit]
    #[arg(long, value_parser = parse_normalization)]
    pub normalization: Option<Normalization>,
}

impl ModelArgs {
    /// Loads the checkpoint or imports the ONNX file.
    pub fn load(&self, device: &Device) -> Result<(Network, CheckpointMeta)> {
        if is_onnx(&self.model) {
            return import_onnx_model(&self.model, self.input_shape, self.normalization, device);
        }
        if self.input_shape.is_some() {
            bail!(
                "--input-shape applies only to ONNX models; the checkpoint {} stores its shape",
                self.model.display()
            );
        }
        let (network, mut meta) = load_checkpoint(&self.model, device)?;
        if let Some(normalization) = self.normalization {
            meta.normalization = normalization;
        }
        Ok((network, meta))
    }
}

/// Checks whether `path` names an ONNX file (by its extension) rather than a checkpoint directory.
pub fn is_onnx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("onnx"))
}

/// Imports an ONNX file into a network and the checkpoint description of it.
pub fn import_onnx_model(
    path: &Path,
    input_shape: Option<FeatureShape>,
    normalization: Option<Normalization>,
    device: &Device,
) -> Result<(Network, CheckpointMeta)> {
    let imported = maso_import::import_onnx(path, input_shape)
        .with_context(|| format!("failed to import the ONNX model {}", path.display()))?;
    let network = imported.network(device)?;
    let meta = CheckpointMeta {
        format: CHECKPOINT_FORMAT,
        network: imported.config,
        architecture: None,
        normalization: normalization.unwrap_or(Normalization::Unit),
        dataset: format!("imported from {}", path.display()),
        train_images: None,
        train: None,
        history: Vec::new(),
    };
    Ok((network, meta))
}

/// Parses `CxHxW` or a feature count.
pub fn parse_shape(text: &str) -> Result<FeatureShape, String> {
    let sizes: Vec<usize> = text
        .split('x')
        .map(|size| size.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            format!("invalid shape `{text}`; write CxHxW (1x28x28) or a feature count (784)")
        })?;
    let shape = match sizes.as_slice() {
        [features] => FeatureShape::flat(*features),
        [channels, height, width] => FeatureShape::new(*channels, *height, *width),
        _ => {
            return Err(format!(
                "invalid shape `{text}`; write CxHxW (1x28x28) or a feature count (784)"
            ));
        }
    };
    if shape.numel() == 0 {
        return Err(format!(
            "invalid shape `{text}`: every size must be at least 1"
        ));
    }
    Ok(shape)
}

/// Parses `unit`, `per-image` or `standard:MEAN,STD`.
pub fn parse_normalization(text: &str) -> Result<Normalization, String> {
    let invalid = || {
        format!(
            "invalid normalization `{text}`; write unit, per-image or standard:MEAN,STD (standard:0.1307,0.3081)"
        )
    };
    match text {
        "unit" => Ok(Normalization::Unit),
        "per-image" => Ok(Normalization::PerImage),
        _ => {
            let values = text.strip_prefix("standard:").ok_or_else(invalid)?;
            let (mean, std) = values.split_once(',').ok_or_else(invalid)?;
            let mean: f32 = mean.trim().parse().map_err(|_| invalid())?;
            let std: f32 = std.trim().parse().map_err(|_| invalid())?;
            if !(mean.is_finite() && std.is_finite() && std > 0.0) {
                return Err(format!(
                    "invalid normalization `{text}`: the mean must be finite and the standard deviation positive"
                ));
            }
            Ok(Normalization::Standard { mean, std })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_parses_image_and_flat() {
        assert_eq!(parse_shape("1x28x28"), Ok(FeatureShape::new(1, 28, 28)));
        assert_eq!(parse_shape("784"), Ok(FeatureShape::flat(784)));
        assert!(parse_shape("1x28").is_err());
        assert!(parse_shape("0x28x28").is_err());
        assert!(parse_shape("ax28x28").is_err());
    }

    #[test]
    fn normalization_parses_all_forms() {
        assert_eq!(parse_normalization("unit"), Ok(Normalization::Unit));
        assert_eq!(
            parse_normalization("per-image"),
            Ok(Normalization::PerImage)
        );
        assert_eq!(
            parse_normalization("standard:0.1307,0.3081"),
            Ok(Normalization::Standard {
                mean: 0.1307,
                std: 0.3081
            })
        );
        assert!(parse_normalization("standard:0.1,0").is_err());
        assert!(parse_normalization("standard").is_err());
        assert!(parse_normalization("z-score").is_err());
    }
}
