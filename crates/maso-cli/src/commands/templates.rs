//! `maso templates`.

use super::data::DataArgs;
use super::eval::Split;
use crate::DeviceArgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use maso::AffineOptions;
use maso::checkpoint::load_checkpoint;
use maso::templates::Templates;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TemplatesArgs {
    /// Checkpoint directory written by `maso train`.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Which split the examples come from.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Example indices, comma-separated [default: the first --count examples].
    #[arg(long, value_delimiter = ',')]
    pub examples: Vec<usize>,
    /// Number of leading examples when --examples is not given.
    #[arg(long, default_value_t = 16)]
    pub count: usize,
    /// Compute A[x] for the output of the first DEPTH top-level layers instead of the logits.
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
    let (network, meta) = load_checkpoint(&args.model, &device)?;
    let splits = args.data.load()?;
    let data = if args.split == Split::Train {
        splits.train
    } else {
        splits.test
    };
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
    let templates = Templates::compute(&network, &data, &indices, meta.normalization, options, 64)?;
    let logits = args.depth.is_none_or(|depth| depth == network.depth());
    crate::analysis::write_templates(&args.out, &templates, &data, logits)?;
    let summary = templates.summary();
    crate::output::write_json(&args.out.join("summary.json"), &summary)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
