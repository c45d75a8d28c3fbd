//! `maso templates`.

use super::data::DataArgs;
use super::eval::Split;
use crate::DeviceArgs;
use crate::model::ModelArgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use maso::AffineOptions;
use maso::templates::Templates;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TemplatesArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Split that the examples come from.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Example indices, comma-separated [default: the first --count examples].
    #[arg(long, value_delimiter = ',')]
    pub examples: Vec<usize>,
    /// Number of leading examples when --examples is not given.
    #[arg(long, default_value_t = 16)]
    pub count: usize,
    /// Compute A[x] for the output of the first DEPTH top-level layers instead of the logits.
    /// Every entry of `layers` in the checkpoint's model.json counts, pooling, batch norm and
    /// flatten included; a residual block counts as one. The PNG draws the first 16 outputs.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Memory budget of one chunk of pullbacks, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub max_chunk_mib: usize,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: &TemplatesArgs) -> Result<()> {
    let device = args.device.device()?;
    let (network, meta) = args.model.load(&device)?;
    let splits = args.data.load()?;
    let data = args.split.select(splits);
    let indices: Vec<usize> = if args.examples.is_empty() {
        (0..args.count.min(data.len())).collect()
    } else {
        args.examples.clone()
    };
    if args.max_chunk_mib == 0 {
        bail!("--max-chunk-mib must be at least 1");
    }
    let options = AffineOptions {
        depth: args.depth,
        max_chunk_bytes: args
            .max_chunk_mib
            .checked_mul(1 << 20)
            .with_context(|| format!("--max-chunk-mib {} is too large", args.max_chunk_mib))?,
    };
    let depth = args.depth.unwrap_or(network.depth());
    network.check_depth(depth)?;
    let outputs = maso::MasoLayer::output_shape(&network.layers[depth - 1]).numel();
    let bytes = indices.len() * outputs * network.input_shape().numel() * 4;
    if bytes > 1 << 29 {
        tracing::warn!(
            "templates.npy will take {:.1} GB ({} examples x {outputs} outputs); pass fewer --examples or a smaller --count to shrink it",
            bytes as f64 / 1e9,
            indices.len()
        );
    }
    let templates = Templates::compute(&network, &data, &indices, meta.normalization, options, 64)?;
    let logits = depth == network.depth();
    crate::analysis::write_templates(&args.out, &templates, &data, logits)?;
    let summary = templates.summary();
    // The agreement rules compare class scores, so they only mean something for the logits.
    let report = if logits {
        serde_json::to_value(summary)?
    } else {
        serde_json::json!({
            "examples_checked": summary.examples_checked,
            "max_relative_residual": summary.max_relative_residual,
            "outputs": outputs,
            "outputs_drawn": outputs.min(crate::analysis::GRID_OUTPUTS),
        })
    };
    crate::output::write_json(&args.out.join("summary.json"), &report)?;
    crate::output::print_json(&report, true)?;
    Ok(())
}
