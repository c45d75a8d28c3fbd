//! `maso import`: convert a PyTorch model into a checkpoint directory.

use super::arch::ArchArgs;
use crate::DeviceArgs;
use crate::model::{import_onnx_model, is_onnx, parse_normalization, parse_shape};
use anyhow::{Context, Result, bail};
use burn::tensor::{Distribution, Tensor};
use clap::Args;
use maso::checkpoint::{CHECKPOINT_FORMAT, CheckpointMeta, save_checkpoint};
use maso::data::Normalization;
use maso::{AffineOptions, FeatureShape, Network, affine_map};
use std::path::PathBuf;
use std::time::Instant;

/// Random inputs on which `maso import` checks `A[x] x + b[x]` against the forward pass.
const CHECKED_INPUTS: usize = 8;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// ONNX file exported with `torch.onnx.export` (either exporter); or use --state-dict.
    #[arg(value_name = "FILE.onnx", conflicts_with = "state_dict")]
    pub onnx: Option<PathBuf>,
    /// A PyTorch state_dict saved with `safetensors.torch.save_file`, for the built-in
    /// architecture chosen with --arch (parameter names: see python/maso_pytorch.py).
    #[arg(long, help_heading = "State-dict options")]
    pub state_dict: Option<PathBuf>,
    #[command(flatten, next_help_heading = "State-dict options")]
    pub arch: ArchArgs,
    /// Number of classes of a state_dict's network.
    #[arg(long, default_value_t = 10, help_heading = "State-dict options")]
    pub classes: usize,
    /// Prefix in front of every state_dict name, such as `module.` or `model.`.
    #[arg(long, default_value = "", help_heading = "State-dict options")]
    pub prefix: String,
    /// Shape of one input, CxHxW or a feature count. Needed for an ONNX model with symbolic
    /// input dimensions. [default for --state-dict: 1x28x28]
    #[arg(long, value_parser = parse_shape)]
    pub input_shape: Option<FeatureShape>,
    /// Input normalization the model was trained with: unit (pixel / 255), per-image, or
    /// standard:MEAN,STD.
    #[arg(long, value_parser = parse_normalization, default_value = "unit")]
    pub normalization: Normalization,
    /// Checkpoint directory to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace a checkpoint that already exists in --out.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: &ImportArgs) -> Result<()> {
    if args.out.join("model.json").exists() && !args.force {
        bail!(
            "{} already contains a checkpoint; pass --force to replace it or choose another --out",
            args.out.display()
        );
    }
    let device = args.device.device()?;
    let started = Instant::now();
    let (network, meta) = match (&args.onnx, &args.state_dict) {
        (Some(path), None) => {
            if !is_onnx(path) {
                bail!(
                    "{} does not end in .onnx; pass an ONNX file, or a safetensors state_dict \
                     with --state-dict",
                    path.display()
                );
            }
            import_onnx_model(path, args.input_shape, Some(args.normalization), &device)?
        }
        (None, Some(path)) => {
            let architecture = args.arch.architecture()?;
            let input = args.input_shape.unwrap_or(FeatureShape::new(1, 28, 28));
            let config = architecture.config(input, args.classes)?;
            let mut network = config.init(&device)?;
            maso_import::state_dict::load_state_dict(path, &mut network, &args.prefix)
                .with_context(|| format!("failed to load the state_dict {}", path.display()))?;
            let meta = CheckpointMeta {
                format: CHECKPOINT_FORMAT,
                network: config,
                architecture: Some(architecture),
                normalization: args.normalization,
                dataset: format!("imported from {}", path.display()),
                train_images: None,
                train: None,
                history: Vec::new(),
            };
            (network, meta)
        }
        _ => bail!(
            "no model given: pass an ONNX file (`maso import FILE.onnx --out DIR`) or a \
             state_dict (`maso import --state-dict FILE --arch NAME --out DIR`)"
        ),
    };
    let import_seconds = started.elapsed().as_secs_f64();

    let residual = check_affine_map(&network)?;
    save_checkpoint(&args.out, &network, &meta, None)?;
    let parameters: usize = burn::module::Module::num_params(&network);
    let summary = serde_json::json!({
        "layers": meta.network.layers.iter().map(|layer| layer.kind()).collect::<Vec<_>>(),
        "input_shape": network.input_shape().to_string(),
        "outputs": network.output_shape().numel(),
        "parameters": parameters,
        "import_seconds": import_seconds,
        "checked_inputs": CHECKED_INPUTS,
        "max_relative_residual": residual,
        "checkpoint": args.out.display().to_string(),
    });
    crate::output::print_json(&summary, true)?;
    Ok(())
}

/// Returns the largest `|A[x] x + b[x] - f(x)| / max(1, |f(x)|)` over random normal inputs.
fn check_affine_map(network: &Network) -> Result<f64> {
    let device = network.device();
    let features = network.input_shape().numel();
    let x = Tensor::<2>::random(
        [CHECKED_INPUTS, features],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let map = affine_map(network, x.clone(), AffineOptions::default())?;
    let logits = network.forward_reference(x.clone(), network.depth());
    let scale = logits.clone().abs().max().into_scalar::<f32>().max(1.0);
    let error = (map.evaluate(x) - logits).abs().max().into_scalar::<f32>();
    let residual = f64::from(error / scale);
    if residual > 1e-3 {
        tracing::warn!(
            "A[x] x + b[x] differs from the forward pass by {residual:.2e} (relative) on random \
             inputs; the imported network may use a layer in a way the spline view does not \
             cover"
        );
    }
    Ok(residual)
}
