//! `maso codes` and `maso neighbors`.

use super::data::DataArgs;
use super::eval::Split;
use crate::DeviceArgs;
use crate::codes_file::{
    CODES_FORMAT, CodesHeader, check_compatible, model_sha256, read_codes, write_codes,
};
use crate::model::ModelArgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use maso::codes::{CodeLayout, pack_codes};
use maso::data::images_tensor;
use maso::search::{Metric, nearest};
use maso::{Mode, Network};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct CodesArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Split to code; the training split is the usual searched database.
    #[arg(long, value_enum, default_value_t = Split::Train)]
    pub split: Split,
    /// Index of the first example.
    #[arg(long, default_value_t = 0)]
    pub start: usize,
    /// Number of examples [default: all from --start on].
    #[arg(long)]
    pub count: Option<usize>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Output directory (codes.npy and codes.json).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Region codes of `indices`, computed in batches, with a progress bar.
pub fn compute_codes(
    network: &Network,
    data: &maso_data::Dataset,
    indices: &[usize],
    normalization: maso::data::Normalization,
    layout: &CodeLayout,
    batch_size: usize,
) -> Result<Vec<u64>> {
    let device = burn::module::Module::devices(network)[0].clone();
    let bar = ProgressBar::new(indices.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("codes [{bar:30}] {pos}/{len} {per_sec}")
            .expect("the progress template is valid")
            .progress_chars("=> "),
    );
    let mut codes = Vec::with_capacity(indices.len() * layout.words_per_example);
    for chunk in indices.chunks(batch_size.max(1)) {
        let x = images_tensor(data, chunk, normalization, &device);
        network.check_input(&x)?;
        let (_, pieces) = network.forward_pieces(x, Mode::Eval, network.depth());
        codes.extend(pack_codes(network, layout, &pieces, chunk.len()));
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(codes)
}

pub fn run_codes(args: &CodesArgs) -> Result<()> {
    let device = args.device.device()?;
    let (network, meta) = args.model.load(&device)?;
    let splits = args.data.load()?;
    let data = args.split.select(splits);
    if args.start >= data.len() {
        bail!(
            "--start {} is past the end of {} ({} examples)",
            args.start,
            data.name,
            data.len()
        );
    }
    let count = args
        .count
        .unwrap_or(data.len() - args.start)
        .min(data.len() - args.start);
    if count == 0 {
        bail!("--count 0 selects no examples");
    }
    let layout = CodeLayout::of(&network)?;
    let indices: Vec<usize> = (args.start..args.start + count).collect();
    let started = Instant::now();
    let codes = compute_codes(
        &network,
        &data,
        &indices,
        meta.normalization,
        &layout,
        args.batch_size,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let header = CodesHeader {
        format: CODES_FORMAT,
        layout,
        model_sha256: model_sha256(&args.model.model)?,
        model: args.model.model.clone(),
        dataset: data.name.clone(),
        start: args.start,
        count,
    };
    write_codes(&args.out, &header, &codes)?;
    let summary = serde_json::json!({
        "out": args.out,
        "examples": count,
        "code_layers": header.layout.layers.len(),
        "bits_per_example": header.layout.bits_per_example(),
        "bytes_per_example": header.layout.words_per_example * 8,
        "seconds": seconds,
    });
    crate::output::print_json(&summary, true)?;
    Ok(())
}

#[derive(Args, Debug)]
pub struct NeighborsArgs {
    /// Codes of the searched set (for example the training images), from `maso codes`.
    #[arg(long)]
    pub database: PathBuf,
    /// Codes of the query set (for example test images), from `maso codes`.
    #[arg(long)]
    pub queries: PathBuf,
    /// Query positions within the query codes, comma-separated [default: 0..8].
    #[arg(long, value_delimiter = ',')]
    pub query_indices: Vec<usize>,
    /// Neighbours per query and layer.
    #[arg(long, default_value_t = 16)]
    pub k: usize,
    /// Code layers to search by name, comma-separated [default: every layer].
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Threads for the search [default: all cores].
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[command(flatten)]
    pub data: DataArgs,
    /// Output directory (neighbors.json and one PNG per query).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_neighbors(args: &NeighborsArgs) -> Result<()> {
    let (db_header, database) = read_codes(&args.database)?;
    let (query_header, queries) = read_codes(&args.queries)?;
    check_compatible(&db_header, &args.database, &query_header, &args.queries)?;
    let layout = &db_header.layout;
    let words = layout.words_per_example;
    let picks: Vec<usize> = if args.query_indices.is_empty() {
        (0..query_header.count.min(8)).collect()
    } else {
        args.query_indices.clone()
    };
    if let Some(bad) = picks.iter().find(|&&q| q >= query_header.count) {
        bail!(
            "query index {bad} is out of range: {} contains {} codes",
            args.queries.display(),
            query_header.count
        );
    }
    let layers: Vec<usize> = if args.layers.is_empty() {
        (0..layout.layers.len()).collect()
    } else {
        args.layers
            .iter()
            .map(|name| layout.find(name))
            .collect::<maso::Result<_>>()?
    };
    let selected: Vec<u64> = picks
        .iter()
        .flat_map(|&q| queries[q * words..(q + 1) * words].iter().copied())
        .collect();

    let splits = args.data.load()?;
    let dataset_for = |name: &str| -> Option<maso_data::Dataset> {
        [&splits.train, &splits.test]
            .into_iter()
            .find(|d| d.name == name)
            .cloned()
    };
    let db_images = dataset_for(&db_header.dataset);
    let query_images = dataset_for(&query_header.dataset);

    let mut report = Vec::new();
    let mut rows: Vec<Vec<Vec<usize>>> = vec![Vec::new(); picks.len()];
    for &layer in &layers {
        let started = Instant::now();
        let found = nearest(
            layout,
            &Metric::Layer(layer),
            &database,
            &selected,
            args.k,
            args.threads,
        )?;
        tracing::info!(
            "layer {}: searched {} codes for {} queries in {:.3} s",
            layout.layers[layer].name,
            db_header.count,
            picks.len(),
            started.elapsed().as_secs_f64()
        );
        for (position, neighbors) in found.iter().enumerate() {
            rows[position].push(
                neighbors
                    .iter()
                    .map(|n| n.index + db_header.start)
                    .collect(),
            );
            report.push(serde_json::json!({
                "query": picks[position] + query_header.start,
                "layer": layout.layers[layer].name,
                "neighbors": neighbors.iter().map(|n| serde_json::json!({"index": n.index + db_header.start, "distance": n.distance})).collect::<Vec<_>>(),
            }));
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    crate::output::write_json(&args.out.join("neighbors.json"), &report)?;
    match (db_images, query_images) {
        (Some(db_images), Some(query_images)) => {
            for (position, &q) in picks.iter().enumerate() {
                let path = args
                    .out
                    .join(format!("query-{}.png", q + query_header.start));
                crate::figures::write_neighbor_grid(
                    &path,
                    query_images.image(q + query_header.start),
                    &rows[position],
                    &db_images,
                )?;
            }
        }
        _ => tracing::warn!(
            "the images of {} or {} are not in --data {}; wrote neighbors.json without pictures",
            db_header.dataset,
            query_header.dataset,
            args.data.data
        ),
    }
    crate::output::print_json(&report, false)?;
    Ok(())
}
