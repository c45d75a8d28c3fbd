//! `maso experiment partition-distance`: how well does the partition distance between region
//! codes classify, next to Euclidean baselines, for untrained, trained and memorizing networks?

use super::codes::compute_codes;
use super::data::DataArgs;
use super::train::train_loop;
use crate::DeviceArgs;
use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use clap::Args;
use maso::arch::Architecture;
use maso::checkpoint::{CHECKPOINT_FORMAT, CheckpointMeta, load_checkpoint};
use maso::codes::CodeLayout;
use maso::data::{Normalization, images_tensor};
use maso::search::{Metric, Neighbor, nearest};
use maso::train::{
    LearningRateSchedule, OptimizerConfig, TrainConfig, Trainer, evaluate, stream_seed, streams,
};
use maso::{FeatureShape, Network};
use maso_data::Dataset;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PartitionArgs {
    /// Output directory: the three networks under networks/, tables at the top.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Use only the first N training images as the searched set and for training.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use only the first N test images as queries.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Architecture: mlp, small-cnn, large-cnn or resnet (default hyperparameters).
    #[arg(long, default_value = "small-cnn")]
    pub arch: String,
    /// Training epochs of the trained network (and of the permuted-label one, unless
    /// --permuted-epochs is given).
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Training epochs of the network trained on permuted labels. Memorizing random labels
    /// takes far more epochs than learning the true ones.
    #[arg(long)]
    pub permuted_epochs: Option<usize>,
    /// Seed of initialization, minibatch order and the label permutation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// k-NN accuracy of one distance on one network.
#[derive(Debug, Clone, Serialize)]
struct Row {
    network: String,
    distance: String,
    accuracy_k1: f64,
    accuracy_k10: f64,
}

/// Accuracy of one network, in eval mode, on the labels it was trained on and on the test set.
#[derive(Debug, Clone, Serialize)]
struct Fit {
    network: String,
    epochs: usize,
    train_accuracy: f64,
    test_accuracy: f64,
}

/// Distinct regions of one code layer among the training images.
#[derive(Debug, Clone, Serialize)]
struct Regions {
    network: String,
    layer: String,
    units: usize,
    distinct_codes: usize,
    images: usize,
}

fn limit(data: Dataset, limit: Option<usize>) -> Result<Dataset> {
    match limit {
        Some(0) => bail!("a limit of 0 leaves no images; give a positive count"),
        Some(count) => Ok(data.take(count.min(data.len()))),
        None => Ok(data),
    }
}

/// Trains (or loads, when its checkpoint is complete) one of the three networks.
fn network(
    args: &PartitionArgs,
    name: &str,
    train: &Dataset,
    test: &Dataset,
    epochs: usize,
) -> Result<Network> {
    let dir = args.out.join("networks").join(name);
    let device = args.device.device()?.autodiff();
    if dir.join("model.json").exists() {
        let (network, meta) = load_checkpoint(&dir, &device)?;
        if meta.history.len() == epochs && meta.dataset == train.name {
            tracing::info!("{name} network: loaded from {}", dir.display());
            return Ok(network.valid());
        }
        bail!(
            "{} contains another run; remove it or choose another --out",
            dir.display()
        );
    }
    let architecture: Architecture = args.arch.parse()?;
    let [c, h, w] = train.shape;
    let config = architecture.config(FeatureShape::new(c, h, w), train.num_classes)?;
    device.seed(stream_seed(args.seed, streams::INIT, 0));
    let network = config.init(&device)?;
    let train_config = TrainConfig {
        epochs,
        batch_size: 64,
        optimizer: OptimizerConfig::Adam {
            learning_rate: 1e-3,
        },
        seed: args.seed,
        balanced: true,
        schedule: LearningRateSchedule::Constant,
        penalty: None,
    };
    let mut meta = CheckpointMeta {
        format: CHECKPOINT_FORMAT,
        train_images: Some(train.len()),
        network: network.config(),
        architecture: Some(architecture),
        normalization: Normalization::PerImage,
        dataset: train.name.clone(),
        train: Some(train_config.clone()),
        history: Vec::new(),
    };
    let mut trainer = Trainer::new(network, train_config, Normalization::PerImage)?;
    if epochs == 0 {
        maso::checkpoint::save_checkpoint(&dir, &trainer.network, &meta, None)?;
    } else {
        tracing::info!("{name} network: training {epochs} epochs");
        train_loop(&mut trainer, &mut meta, train, test, epochs, &dir)?;
    }
    Ok(trainer.network.valid())
}

/// Majority vote of the first `k` neighbours' labels, ties to the nearest.
fn vote(neighbors: &[Neighbor], labels: &[u8], classes: usize, k: usize) -> u8 {
    let nearest: Vec<u8> = neighbors.iter().take(k).map(|n| labels[n.index]).collect();
    let mut counts = vec![0usize; classes];
    for &label in &nearest {
        counts[label as usize] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0);
    // Among the most frequent labels, the one of the nearest neighbour wins.
    nearest
        .into_iter()
        .find(|&label| counts[label as usize] == top)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neighbors(indices: &[usize]) -> Vec<Neighbor> {
        indices
            .iter()
            .map(|&index| Neighbor {
                index,
                distance: 0.0,
            })
            .collect()
    }

    #[test]
    fn vote_takes_majority_then_nearest() {
        let labels = [0, 1, 1, 0, 2];
        assert_eq!(vote(&neighbors(&[0, 1, 2]), &labels, 3, 3), 1);
        // Labels 0 and 1 tie with two votes each; neighbour 0 (label 0) is the nearest.
        assert_eq!(vote(&neighbors(&[0, 1, 2, 3]), &labels, 3, 4), 0);
        assert_eq!(vote(&neighbors(&[4, 0, 1]), &labels, 3, 1), 2);
    }
}

fn accuracy(found: &[Vec<Neighbor>], train: &Dataset, test: &Dataset, k: usize) -> f64 {
    let correct = found
        .iter()
        .enumerate()
        .filter(|(q, neighbors)| {
            !neighbors.is_empty()
                && vote(neighbors, &train.labels, train.num_classes, k) == test.labels[*q]
        })
        .count();
    correct as f64 / found.len().max(1) as f64
}

/// Exact k nearest neighbours by Euclidean (or cosine) distance between feature rows.
fn euclidean_neighbors(
    database: Tensor<2>,
    queries: Tensor<2>,
    k: usize,
    cosine: bool,
) -> Result<Vec<Vec<Neighbor>>> {
    let normalize = |x: Tensor<2>| {
        let norms = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
        x / norms
    };
    let (database, queries) = if cosine {
        (normalize(database), normalize(queries))
    } else {
        (database, queries)
    };
    let [count, _] = database.dims();
    let database_norms = database.clone().square().sum_dim(1).reshape([1, count]);
    let [query_count, _] = queries.dims();
    let mut found = Vec::with_capacity(query_count);
    for start in (0..query_count).step_by(256) {
        let length = 256.min(query_count - start);
        let block = queries.clone().narrow(0, start, length);
        let block_norms = block.clone().square().sum_dim(1);
        let squared = block_norms + database_norms.clone()
            - block.matmul(database.clone().transpose()).mul_scalar(2.0);
        let values = squared
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|error| anyhow::anyhow!("reading distances back failed: {error:?}"))?;
        for row in values.chunks(count) {
            let mut order: Vec<usize> = (0..count).collect();
            let take = k.min(count);
            order.select_nth_unstable_by(take - 1, |&a, &b| {
                row[a].total_cmp(&row[b]).then(a.cmp(&b))
            });
            order.truncate(take);
            order.sort_by(|&a, &b| row[a].total_cmp(&row[b]).then(a.cmp(&b)));
            found.push(
                order
                    .into_iter()
                    .map(|index| Neighbor {
                        index,
                        distance: row[index].max(0.0).sqrt() as f64,
                    })
                    .collect(),
            );
        }
    }
    Ok(found)
}

fn distinct_codes(layout: &CodeLayout, layer: usize, codes: &[u64], count: usize) -> usize {
    let words = layout.words_per_example;
    let spec = &layout.layers[layer];
    let mut seen = HashSet::new();
    for n in 0..count {
        seen.insert(
            &codes[n * words + spec.word_offset..n * words + spec.word_offset + spec.words],
        );
    }
    seen.len()
}

fn evaluate_network(
    name: &str,
    network: &Network,
    train: &Dataset,
    test: &Dataset,
    rows: &mut Vec<Row>,
    regions: &mut Vec<Regions>,
) -> Result<()> {
    let layout = CodeLayout::of(network)?;
    let normalization = Normalization::PerImage;
    let train_indices: Vec<usize> = (0..train.len()).collect();
    let test_indices: Vec<usize> = (0..test.len()).collect();
    let database = compute_codes(network, train, &train_indices, normalization, &layout, 256)?;
    let queries = compute_codes(network, test, &test_indices, normalization, &layout, 256)?;

    let mut record = |distance: String, found: Vec<Vec<Neighbor>>| {
        let row = Row {
            network: name.into(),
            distance,
            accuracy_k1: accuracy(&found, train, test, 1),
            accuracy_k10: accuracy(&found, train, test, 10),
        };
        tracing::info!(
            "{name}, {}: 1-NN {:.4}, 10-NN {:.4}",
            row.distance,
            row.accuracy_k1,
            row.accuracy_k10
        );
        rows.push(row);
    };
    for (index, layer) in layout.layers.iter().enumerate() {
        let found = nearest(&layout, &Metric::Layer(index), &database, &queries, 10, 0)?;
        let kind = match layer.kind {
            maso::codes::CodeKind::Sign => "activation",
            maso::codes::CodeKind::Argmax { .. } => "max-pool",
        };
        record(format!("partition layer {} ({kind})", layer.name), found);
        regions.push(Regions {
            network: name.into(),
            layer: layer.name.clone(),
            units: layer.units,
            distinct_codes: distinct_codes(&layout, index, &database, train.len()),
            images: train.len(),
        });
    }
    let all: Vec<(usize, f64)> = (0..layout.layers.len()).map(|index| (index, 1.0)).collect();
    record(
        "partition all layers".into(),
        nearest(&layout, &Metric::Combined(all), &database, &queries, 10, 0)?,
    );

    let device: Device = network.device();
    let train_x = images_tensor(train, &train_indices, normalization, &device);
    let test_x = images_tensor(test, &test_indices, normalization, &device);
    record(
        "pixel L2".into(),
        euclidean_neighbors(train_x.clone(), test_x.clone(), 10, false)?,
    );
    let penultimate = network.depth() - 1;
    let train_features = network.forward_reference(train_x, penultimate);
    let test_features = network.forward_reference(test_x, penultimate);
    record(
        "penultimate L2".into(),
        euclidean_neighbors(train_features.clone(), test_features.clone(), 10, false)?,
    );
    record(
        "penultimate cosine".into(),
        euclidean_neighbors(train_features, test_features, 10, true)?,
    );
    Ok(())
}

fn write_report(
    out: &Path,
    args: &PartitionArgs,
    train: &Dataset,
    test: &Dataset,
    rows: &[Row],
    regions: &[Regions],
    fits: &[Fit],
) -> Result<()> {
    let mut markdown = format!(
        "# Partition distance: k-NN classification\n\n{} on {} ({} training images searched, {} test queries); \
         networks trained with Adam 1e-3, batch 64, for the epochs below; \"permuted\" is trained on randomly permuted \
         training labels and searched with the true labels. Partition distances are per-layer normalized Hamming distances (max-pool: \
         fraction of windows whose argmax differs); \"all layers\" sums them with equal weights.\n\n\
         | network | distance | 1-NN accuracy (%) | 10-NN accuracy (%) |\n|---|---|---|---|\n",
        args.arch,
        train.name,
        train.len(),
        test.len(),
    );
    let mut csv = String::from("network,distance,accuracy_k1,accuracy_k10\n");
    for row in rows {
        markdown.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} |\n",
            row.network,
            row.distance,
            100.0 * row.accuracy_k1,
            100.0 * row.accuracy_k10
        ));
        csv.push_str(&format!(
            "{},{},{},{}\n",
            row.network, row.distance, row.accuracy_k1, row.accuracy_k10
        ));
    }
    markdown.push_str(
        "\n## Fit to the training labels\n\nAccuracy in eval mode on the labels each network was trained on \
         (the permuted ones for \"permuted\"): how far it memorized them.\n\n\
         | network | epochs | train accuracy (%) | test accuracy (%) |\n|---|---|---|---|\n",
    );
    for fit in fits {
        markdown.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} |\n",
            fit.network,
            fit.epochs,
            100.0 * fit.train_accuracy,
            100.0 * fit.test_accuracy
        ));
    }
    markdown.push_str("\n## Distinct regions per layer among the training images\n\n| network | layer | units | distinct codes | images |\n|---|---|---|---|---|\n");
    for region in regions {
        markdown.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            region.network, region.layer, region.units, region.distinct_codes, region.images
        ));
    }
    crate::output::write_atomic(&out.join("knn.csv"), csv.as_bytes())?;
    crate::output::write_json(&out.join("regions.json"), &regions)?;
    crate::output::write_json(&out.join("fit.json"), &fits)?;
    crate::output::write_atomic(&out.join("summary.md"), markdown.as_bytes())
}

pub fn run(args: &PartitionArgs) -> Result<()> {
    let splits = args.data.load()?;
    let train = limit(splits.train, args.train_limit)?;
    let test = limit(splits.test, args.test_limit)?;
    let mut permuted = train.clone();
    permuted.name = format!("{} (permuted labels)", train.name);
    permuted
        .labels
        .shuffle(&mut StdRng::seed_from_u64(stream_seed(
            args.seed,
            streams::BATCHES,
            u64::MAX,
        )));

    let mut rows = Vec::new();
    let mut regions = Vec::new();
    let mut fits = Vec::new();
    let permuted_epochs = args.permuted_epochs.unwrap_or(args.epochs);
    for (name, data, epochs) in [
        ("untrained", &train, 0),
        ("trained", &train, args.epochs),
        ("permuted", &permuted, permuted_epochs),
    ] {
        let network = network(args, name, data, &test, epochs)
            .with_context(|| format!("preparing the {name} network"))?;
        fits.push(Fit {
            network: name.into(),
            epochs,
            train_accuracy: evaluate(&network, data, Normalization::PerImage, 256)?.accuracy,
            test_accuracy: evaluate(&network, &test, Normalization::PerImage, 256)?.accuracy,
        });
        evaluate_network(name, &network, &train, &test, &mut rows, &mut regions)?;
        write_report(&args.out, args, &train, &test, &rows, &regions, &fits)?;
    }
    tracing::info!("wrote {}", args.out.join("summary.md").display());
    Ok(())
}
