//! `maso data fetch` and the `--data` option shared by other commands.

use anyhow::{Context, Result};
use clap::Args;
use maso_data::{DatasetName, Splits};
use std::path::PathBuf;

/// Name of the MNIST subset compiled into the binary.
pub const EMBEDDED: &str = "mnist-embedded";

/// Data set that a command reads.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Data set: mnist-embedded (5,000 train and 1,000 test MNIST images inside the binary),
    /// mnist, fashion-mnist or cifar10 (the last three read the cache; see `maso data fetch`).
    #[arg(long, default_value = EMBEDDED)]
    pub data: String,
    /// Cache directory of fetched data sets [default: $MASO_CACHE, else ~/.cache/maso].
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

impl DataArgs {
    /// Loads the train and test splits.
    pub fn load(&self) -> Result<Splits> {
        if self.data == EMBEDDED {
            return Ok(maso_data::embedded_mnist());
        }
        let name: DatasetName = self.data.parse().with_context(|| {
            format!("invalid --data `{}` (also accepted: {EMBEDDED})", self.data)
        })?;
        let cache = self
            .cache
            .clone()
            .unwrap_or_else(maso_data::default_cache_dir);
        let splits = maso_data::load(name, &cache);
        match (&self.cache, splits) {
            (Some(dir), Err(error @ maso_data::DataError::NotCached { .. })) => {
                Err(anyhow::Error::new(error).context(format!(
                    "the data set is not in --cache {dir}; fetch it there with `maso data fetch \
                     {name} --cache {dir}`",
                    dir = dir.display()
                )))
            }
            (_, splits) => Ok(splits?),
        }
    }
}

/// `maso data fetch NAME`.
pub fn fetch(name: &str, cache: Option<PathBuf>) -> Result<()> {
    let name: DatasetName = name.parse()?;
    let cache = cache.unwrap_or_else(maso_data::default_cache_dir);
    let dir = maso_data::fetch(name, &cache, &|message| tracing::info!("{message}"))?;
    tracing::info!("{name} is ready in {}", dir.display());
    Ok(())
}
