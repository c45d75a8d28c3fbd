//! `maso eval`.

use super::data::DataArgs;
use crate::DeviceArgs;
use crate::model::ModelArgs;
use anyhow::Result;
use clap::{Args, ValueEnum};
use maso::train::evaluate;

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Split to evaluate.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Images per forward pass.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// Takes this split out of `splits`.
    pub fn select(self, splits: maso_data::Splits) -> maso_data::Dataset {
        match self {
            Split::Train => splits.train,
            Split::Test => splits.test,
        }
    }
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let device = args.device.device()?;
    let (network, meta) = args.model.load(&device)?;
    let splits = args.data.load()?;
    let data = args.split.select(splits);
    let evaluation = evaluate(&network, &data, meta.normalization, args.batch_size)?;
    let report = serde_json::json!({
        "model": args.model.model,
        "data": data.name,
        "examples": data.len(),
        "normalization": meta.normalization,
        "accuracy": evaluation.accuracy,
        "loss": evaluation.loss,
    });
    crate::output::print_json(&report, true)?;
    Ok(())
}
