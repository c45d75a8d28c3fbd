//! `maso experiment ortho`: does the orthogonal-template penalty help?
//!
//! Trains one network per (lambda, seed) pair, each in its own checkpoint directory so that an
//! interrupted sweep resumes where it stopped, then tabulates the final metrics per lambda
//! (mean and standard deviation over seeds) and plots them.

use super::data::DataArgs;
use super::train::{PenaltyArgs, check_same_data, train_loop, write_metrics};
use crate::DeviceArgs;
use crate::plots::{Series, line_plot_svg};
use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::Device;
use clap::{Args, Subcommand};
use maso::arch::Architecture;
use maso::checkpoint::{
    CHECKPOINT_FORMAT, CheckpointMeta, load_checkpoint, load_meta, load_optimizer,
};
use maso::data::{Normalization, images_tensor};
use maso::penalty::mean_template_cosine;
use maso::train::{
    LearningRateSchedule, OptimizerConfig, TrainConfig, Trainer, evaluate, stream_seed, streams,
};
use maso::{AffineOptions, FeatureShape, Network, affine_map};
use maso_data::Dataset;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum ExperimentCommand {
    /// Sweep the orthogonal-template penalty's weight over seeds and tabulate accuracy,
    /// generalization gap and template orthogonality.
    Ortho(OrthoArgs),
    /// k-NN classification with the partition distance of each layer, all layers combined,
    /// pixel L2 and penultimate-layer features, for untrained, trained and permuted-label
    /// networks, plus the number of distinct regions per layer.
    PartitionDistance(super::partition::PartitionArgs),
    /// Train a 2-layer MLP on 2-D toy data and draw the exact input-space partitions of both
    /// hidden layers at initialization and after training, with the decision boundary.
    ToyPartition(super::toy::ToyPartitionArgs),
    /// Train a 2-layer MLP on 2-D toy data and record, over the epochs, the exact region
    /// counts of the input plane, the regions meeting discs around training points and the
    /// sampled local complexity.
    Complexity(super::toy::ComplexityArgs),
}

#[derive(Args, Debug)]
pub struct OrthoArgs {
    /// Output directory: one run per lambda and seed under runs/, tables and plots at the top.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Use only the first N training images (the small-data regime).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Architecture: mlp, small-cnn, large-cnn or resnet (default hyperparameters).
    #[arg(long, default_value = "small-cnn")]
    pub arch: String,
    /// Penalty weights to compare, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0,0.3333333333333333,0.6666666666666666,1"
    )]
    pub lambdas: Vec<f64>,
    /// Seeds per lambda (0, 1, ..., N-1).
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Epochs per run.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Images per minibatch (class-balanced).
    #[arg(long, default_value_t = 50)]
    pub batch_size: usize,
    /// Adam learning rate (constant, as in the spline-theory authors' runs).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Penalty options (the weights come from --lambdas).
    #[command(flatten)]
    pub penalty: PenaltyArgs,
    /// Test images whose templates measure orthogonality.
    #[arg(long, default_value_t = 500)]
    pub cosine_examples: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Final metrics of one run, stored as `final.json` in its directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunResult {
    lambda: f64,
    seed: u64,
    /// Mean test accuracy of the last three epochs (or fewer, for shorter runs).
    test_accuracy: f64,
    test_loss: f64,
    /// Accuracy and loss on the training images in eval mode after the last epoch.
    train_accuracy: f64,
    train_loss: f64,
    /// Train accuracy minus `test_accuracy`.
    accuracy_gap: f64,
    /// Test minus train loss.
    loss_gap: f64,
    /// Mean absolute cosine between different classes' templates on test images.
    template_cosine: f64,
    /// Test accuracy after each epoch.
    test_curve: Vec<f64>,
}

/// Mean absolute cosine between templates over the first `count` images of `data`.
fn template_cosine(
    network: &Network,
    data: &Dataset,
    normalization: Normalization,
    count: usize,
    device: &Device,
) -> Result<f64> {
    let indices: Vec<usize> = (0..count.min(data.len())).collect();
    let mut weighted = 0.0;
    for chunk in indices.chunks(100) {
        let x = images_tensor(data, chunk, normalization, device);
        let map = affine_map(network, x, AffineOptions::default())?;
        weighted += mean_template_cosine(&map.slopes) * chunk.len() as f64;
    }
    Ok(weighted / indices.len().max(1) as f64)
}

fn run_one(
    args: &OrthoArgs,
    lambda: f64,
    seed: u64,
    train: &Dataset,
    test: &Dataset,
    dir: &Path,
) -> Result<RunResult> {
    let architecture: Architecture = args.arch.parse()?;
    let train_config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        optimizer: OptimizerConfig::Adam {
            learning_rate: args.lr,
        },
        seed,
        balanced: true,
        schedule: LearningRateSchedule::Constant,
        penalty: args.penalty.config(lambda),
    };
    let existing = dir.join("model.json").exists();
    if existing {
        // A finished or interrupted run is reused only if it was made with these settings.
        let meta = load_meta(dir)?;
        check_same_data(&meta, train, dir)?;
        let same = meta.train.as_ref().is_some_and(|stored| {
            TrainConfig {
                epochs: args.epochs,
                ..stored.clone()
            } == train_config
        }) && meta.architecture.as_ref() == Some(&architecture);
        if !same {
            bail!(
                "{} contains a run with other settings (architecture, batch size, learning rate or penalty); choose another --out",
                dir.display()
            );
        }
    }
    let final_path = dir.join("final.json");
    if let Ok(text) = std::fs::read_to_string(&final_path) {
        if let Ok(result) = serde_json::from_str::<RunResult>(&text) {
            if result.test_curve.len() == args.epochs {
                tracing::info!("lambda {lambda}, seed {seed}: finished earlier, skipped");
                return Ok(result);
            }
        }
    }
    let device = args.device.device()?.autodiff();
    let (mut trainer, mut meta) = if existing {
        let (network, mut meta) = load_checkpoint(dir, &device)?;
        let config = train_config;
        meta.train = Some(config.clone());
        let mut trainer = Trainer::new(network, config, meta.normalization)?;
        trainer.optimizer = load_optimizer(dir, &mut trainer.network, trainer.optimizer)?;
        trainer.history = meta.history.clone();
        tracing::info!(
            "lambda {lambda}, seed {seed}: resuming after epoch {}",
            trainer.epochs_done()
        );
        (trainer, meta)
    } else {
        let [c, h, w] = train.shape;
        let config = architecture.config(FeatureShape::new(c, h, w), train.num_classes)?;
        device.seed(stream_seed(seed, streams::INIT, 0));
        let network = config.init(&device)?;
        let meta = CheckpointMeta {
            format: CHECKPOINT_FORMAT,
            train_images: Some(train.len()),
            network: network.config(),
            architecture: Some(architecture),
            normalization: Normalization::PerImage,
            dataset: train.name.clone(),
            train: Some(train_config.clone()),
            history: Vec::new(),
        };
        (
            Trainer::new(network, train_config, Normalization::PerImage)?,
            meta,
        )
    };
    tracing::info!("lambda {lambda}, seed {seed}: training");
    train_loop(&mut trainer, &mut meta, train, test, args.epochs, dir)?;
    write_metrics(dir, &trainer.history)?;

    let network = trainer.network.valid();
    let eval_device = network.device();
    let on_train = evaluate(&network, train, trainer.normalization, 256)?;
    let history = &trainer.history;
    let last = history.last().context("the run finished no epoch")?;
    let tail = &history[history.len().saturating_sub(3)..];
    let test_accuracy = tail.iter().map(|m| m.test_accuracy).sum::<f64>() / tail.len() as f64;
    let result = RunResult {
        lambda,
        seed,
        test_accuracy,
        test_loss: last.test_loss,
        train_accuracy: on_train.accuracy,
        train_loss: on_train.loss,
        accuracy_gap: on_train.accuracy - test_accuracy,
        loss_gap: last.test_loss - on_train.loss,
        template_cosine: template_cosine(
            &network,
            test,
            trainer.normalization,
            args.cosine_examples,
            &eval_device,
        )?,
        test_curve: history.iter().map(|m| m.test_accuracy).collect(),
    };
    crate::output::write_json(&final_path, &result)?;
    Ok(result)
}

/// Computes the mean and sample standard deviation of `values`. The deviation is `None` for
/// fewer than two values, because it is undefined there and a single seed must not read as a
/// spread of zero.
fn mean_std(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.len() > 1).then(|| {
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        var.sqrt()
    });
    (mean, std)
}

/// Column name and accessor of each tabulated metric.
const METRICS: [(&str, fn(&RunResult) -> f64); 7] = [
    ("test_accuracy", |r| r.test_accuracy),
    ("train_accuracy", |r| r.train_accuracy),
    ("accuracy_gap", |r| r.accuracy_gap),
    ("test_loss", |r| r.test_loss),
    ("train_loss", |r| r.train_loss),
    ("loss_gap", |r| r.loss_gap),
    ("template_cosine", |r| r.template_cosine),
];

fn write_tables(
    out: &Path,
    args: &OrthoArgs,
    results: &[RunResult],
    data_name: &str,
    train_images: usize,
) -> Result<()> {
    let mut runs = String::from("lambda,seed");
    for (name, _) in METRICS {
        runs.push_str(&format!(",{name}"));
    }
    runs.push('\n');
    for r in results {
        runs.push_str(&format!("{},{}", r.lambda, r.seed));
        for (_, get) in METRICS {
            runs.push_str(&format!(",{}", get(r)));
        }
        runs.push('\n');
    }
    crate::output::write_atomic(&out.join("runs.csv"), runs.as_bytes())?;

    let mut csv = String::from("lambda,seeds");
    for (name, _) in METRICS {
        csv.push_str(&format!(",{name}_mean,{name}_std"));
    }
    csv.push('\n');
    let mut markdown = format!(
        "# Orthogonal-template penalty sweep\n\n{} on {data_name} ({train_images} training images), \
         {} epoch(s), batch {}, Adam {}; penalty `--ortho-kind {}`, `--ortho-estimator {}` with {} sample(s). \
         Mean ± sample standard deviation over seeds (no deviation for a single seed); \
         test accuracy is the mean of the last (up to) 3 epochs; \
         gaps are train minus test accuracy and test minus train loss; template cosine is the \
         mean |cos| between different classes' templates on {} test images.\n\n\
         | lambda | seeds | test acc (%) | train acc (%) | acc gap (%) | test loss | train loss | loss gap | template cosine |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        args.arch,
        args.epochs,
        args.batch_size,
        args.lr,
        clap::ValueEnum::to_possible_value(&args.penalty.ortho_kind)
            .map_or_else(String::new, |v| v.get_name().to_string()),
        clap::ValueEnum::to_possible_value(&args.penalty.ortho_estimator)
            .map_or_else(String::new, |v| v.get_name().to_string()),
        args.penalty.ortho_samples,
        args.cosine_examples
    );
    for &lambda in &args.lambdas {
        let group: Vec<&RunResult> = results.iter().filter(|r| r.lambda == lambda).collect();
        csv.push_str(&format!("{lambda},{}", group.len()));
        markdown.push_str(&format!("| {lambda:.3} | {} ", group.len()));
        for (index, (_, get)) in METRICS.iter().enumerate() {
            let values: Vec<f64> = group.iter().map(|r| get(r)).collect();
            let (mean, std) = mean_std(&values);
            let std_field = std.map_or_else(String::new, |std| std.to_string());
            csv.push_str(&format!(",{mean},{std_field}"));
            let percent = index < 3;
            let cell = match (percent, std) {
                (true, Some(std)) => format!("{:.2} ± {:.2}", 100.0 * mean, 100.0 * std),
                (true, None) => format!("{:.2}", 100.0 * mean),
                (false, Some(std)) => format!("{mean:.4} ± {std:.4}"),
                (false, None) => format!("{mean:.4}"),
            };
            markdown.push_str(&format!("| {cell} "));
        }
        csv.push('\n');
        markdown.push_str("|\n");
    }
    markdown.push_str("\n![test accuracy against lambda](accuracy_vs_lambda.svg)\n\n![learning curves](learning_curves.svg)\n");
    crate::output::write_atomic(&out.join("summary.csv"), csv.as_bytes())?;
    crate::output::write_atomic(&out.join("summary.md"), markdown.as_bytes())
}

fn write_plots(out: &Path, args: &OrthoArgs, results: &[RunResult]) -> Result<()> {
    let by_lambda = |get: fn(&RunResult) -> f64| {
        let (mut y, mut err) = (Vec::new(), Vec::new());
        for &lambda in &args.lambdas {
            let values: Vec<f64> = results
                .iter()
                .filter(|r| r.lambda == lambda)
                .map(get)
                .collect();
            let (mean, std) = mean_std(&values);
            y.push(100.0 * mean);
            err.push(100.0 * std.unwrap_or(0.0));
        }
        (y, err)
    };
    let (test_y, test_err) = by_lambda(|r| r.test_accuracy);
    let (train_y, train_err) = by_lambda(|r| r.train_accuracy);
    let series = [
        Series {
            label: "test".into(),
            x: args.lambdas.clone(),
            y: test_y,
            y_err: Some(test_err),
        },
        Series {
            label: "train".into(),
            x: args.lambdas.clone(),
            y: train_y,
            y_err: Some(train_err),
        },
    ];
    line_plot_svg(
        &out.join("accuracy_vs_lambda.svg"),
        "Accuracy against penalty weight (mean ± std over seeds)",
        "lambda",
        "accuracy (%)",
        &series,
    )?;

    let mut curves = Vec::new();
    for &lambda in &args.lambdas {
        let group: Vec<&RunResult> = results.iter().filter(|r| r.lambda == lambda).collect();
        let epochs = group.iter().map(|r| r.test_curve.len()).min().unwrap_or(0);
        let (mut y, mut err) = (Vec::new(), Vec::new());
        for epoch in 0..epochs {
            let values: Vec<f64> = group.iter().map(|r| r.test_curve[epoch]).collect();
            let (mean, std) = mean_std(&values);
            y.push(100.0 * mean);
            err.push(100.0 * std.unwrap_or(0.0));
        }
        if epochs > 0 {
            curves.push(Series {
                label: format!("lambda {lambda:.3}"),
                x: (1..=epochs).map(|e| e as f64).collect(),
                y,
                y_err: Some(err),
            });
        }
    }
    line_plot_svg(
        &out.join("learning_curves.svg"),
        "Test accuracy per epoch (mean ± std over seeds)",
        "epoch",
        "test accuracy (%)",
        &curves,
    )
}

pub fn run(command: &ExperimentCommand) -> Result<()> {
    let args = match command {
        ExperimentCommand::Ortho(args) => args,
        ExperimentCommand::PartitionDistance(args) => return super::partition::run(args),
        ExperimentCommand::ToyPartition(args) => return super::toy::run_toy_partition(args),
        ExperimentCommand::Complexity(args) => return super::toy::run_complexity(args),
    };
    if args.lambdas.is_empty() || args.seeds == 0 {
        bail!("give at least one lambda (--lambdas) and one seed (--seeds)");
    }
    if let Some(bad) = args.lambdas.iter().find(|l| !(l.is_finite() && **l >= 0.0)) {
        bail!("invalid lambda {bad}: penalty weights must be finite and non-negative");
    }
    for (i, lambda) in args.lambdas.iter().enumerate() {
        if args.lambdas[..i].contains(lambda) {
            bail!("lambda {lambda} appears twice in --lambdas; list each weight once");
        }
    }
    if args.cosine_examples == 0 {
        bail!("--cosine-examples must be at least 1 to measure template orthogonality");
    }
    let splits = args.data.load()?;
    let train = match args.train_limit {
        Some(0) => bail!("--train-limit 0 leaves no training images; give a positive count"),
        Some(limit) => splits.train.take(limit.min(splits.train.len())),
        None => splits.train,
    };
    let test = splits.test;
    let mut results = Vec::new();
    for seed in 0..args.seeds {
        for &lambda in &args.lambdas {
            let dir = args
                .out
                .join("runs")
                .join(format!("lambda-{lambda}-seed-{seed}"));
            results.push(run_one(args, lambda, seed, &train, &test, &dir)?);
            write_tables(&args.out, args, &results, &train.name, train.len())?;
        }
    }
    write_plots(&args.out, args, &results)?;
    tracing::info!("wrote {}", args.out.join("summary.md").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::mean_std;

    #[test]
    fn mean_std_is_the_sample_deviation() {
        let (mean, std) = mean_std(&[1.0, 2.0, 6.0]);
        assert_eq!(mean, 3.0);
        // Squared deviations 4 + 1 + 9 = 14 over n - 1 = 2.
        assert!((std.unwrap() - 7f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn single_seed_has_no_standard_deviation() {
        assert_eq!(mean_std(&[0.97]), (0.97, None));
    }
}
