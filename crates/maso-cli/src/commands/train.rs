//! `maso train`.

use super::arch::ArchArgs;
use super::data::DataArgs;
use crate::DeviceArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use maso::FeatureShape;
use maso::checkpoint::{
    CHECKPOINT_FORMAT, CheckpointMeta, load_checkpoint, load_optimizer, save_checkpoint,
};
use maso::data::Normalization;
use maso::penalty::{PenaltyConfig, PenaltyEstimator, PenaltyKind};
use maso::train::{
    EpochMetrics, LearningRateSchedule, OptimizerConfig, TrainConfig, Trainer, stream_seed, streams,
};
use maso_data::Dataset;
use std::path::Path;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Checkpoint directory (created; written after every epoch).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run saved in --out: its architecture, settings and optimizer state.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub data: DataArgs,
    /// Use only the first N training images (class-interleaved for fetched data sets).
    #[arg(long)]
    pub train_limit: Option<usize>,
    #[command(flatten)]
    pub arch: ArchArgs,
    /// Passes over the training set (with --resume: the total, counting finished epochs).
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Images per minibatch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = Optimizer::Adam)]
    pub optimizer: Optimizer,
    /// Learning rate (the starting rate with --schedule cosine).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Learning-rate schedule: constant, or cosine decay to 0 over --epochs.
    #[arg(long, value_enum, default_value_t = Schedule::Constant)]
    pub schedule: Schedule,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Seed of initialization, minibatch order and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Shuffle uniformly instead of drawing class-balanced minibatches.
    #[arg(long)]
    pub no_balance: bool,
    /// Weight lambda of the orthogonal-template penalty (0 trains without it).
    #[arg(long, default_value_t = 0.0)]
    pub ortho: f64,
    #[command(flatten)]
    pub penalty: PenaltyArgs,
    /// Input normalization.
    #[arg(long, value_enum, default_value_t = NormalizationArg::PerImage)]
    pub normalization: NormalizationArg,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Optimizer {
    /// Adam, betas 0.9 and 0.999.
    Adam,
    /// SGD with momentum (--momentum).
    Sgd,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Schedule {
    Constant,
    Cosine,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum NormalizationArg {
    /// Subtract each image's mean, divide by its max absolute value.
    PerImage,
    /// Subtract the training set's pixel mean, divide by its standard deviation.
    Standard,
    /// Divide by 255.
    Unit,
}

impl TrainArgs {
    fn train_config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: match self.optimizer {
                Optimizer::Adam => OptimizerConfig::Adam {
                    learning_rate: self.lr,
                },
                Optimizer::Sgd => OptimizerConfig::Sgd {
                    learning_rate: self.lr,
                    momentum: self.momentum,
                },
            },
            seed: self.seed,
            balanced: !self.no_balance,
            schedule: match self.schedule {
                Schedule::Constant => LearningRateSchedule::Constant,
                Schedule::Cosine => LearningRateSchedule::Cosine,
            },
            penalty: self.penalty.config(self.ortho),
        }
    }
}

/// Checks that a resumed run uses the training data it started with.
pub fn check_same_data(meta: &CheckpointMeta, train: &Dataset, out: &Path) -> Result<()> {
    if meta.dataset != train.name {
        bail!(
            "{} was trained on {}, but --data gives {}; resume with the same --data",
            out.display(),
            meta.dataset,
            train.name
        );
    }
    if let Some(count) = meta.train_images {
        if count != train.len() {
            bail!(
                "{} was trained on {count} images of {}, but this run has {}; resume with the same --train-limit",
                out.display(),
                meta.dataset,
                train.len()
            );
        }
    }
    Ok(())
}

/// Creates a progress bar for one epoch's steps, hidden when stderr is not a terminal.
pub fn epoch_bar(epoch: usize, epochs: usize, steps: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
            .expect("the progress template is valid")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

/// Runs `trainer` up to `epochs` epochs, saving a checkpoint into `out` after each.
/// Rejects a run that would train no epoch.
pub fn train_loop_checked(trainer: &Trainer, epochs: usize, out: &Path) -> Result<()> {
    if epochs == 0 {
        bail!("--epochs 0 trains nothing; give at least 1");
    }
    if trainer.epochs_done() >= epochs {
        bail!(
            "{} already contains {} epochs, and --epochs {epochs} requests no more; raise --epochs to continue",
            out.display(),
            trainer.epochs_done()
        );
    }
    Ok(())
}

pub fn train_loop(
    trainer: &mut Trainer,
    meta: &mut CheckpointMeta,
    train: &Dataset,
    test: &Dataset,
    epochs: usize,
    out: &Path,
) -> Result<()> {
    let steps = train.len() / trainer.config.batch_size.min(train.len()).max(1);
    while trainer.epochs_done() < epochs {
        let bar = epoch_bar(trainer.epochs_done() + 1, epochs, steps);
        let metrics = trainer.run_epoch(train, test, &mut |progress| {
            bar.set_position(progress.step as u64);
            bar.set_message(format!(
                "loss {:.4} acc {:.4} {:.0} img/s",
                progress.loss, progress.accuracy, progress.images_per_second
            ));
        })?;
        bar.finish_and_clear();
        log_epoch(&metrics);
        meta.history = trainer.history.clone();
        save_checkpoint(out, &trainer.network, meta, Some(&trainer.optimizer))?;
        write_metrics(out, &trainer.history)?;
    }
    Ok(())
}

fn log_epoch(m: &EpochMetrics) {
    tracing::info!(
        "epoch {}: train loss {:.4} acc {:.4} penalty {:.3e} | test loss {:.4} acc {:.4} | {:.1} s, {:.0} img/s",
        m.epoch,
        m.train_loss,
        m.train_accuracy,
        m.train_penalty,
        m.test_loss,
        m.test_accuracy,
        m.train_seconds,
        m.images_per_second
    );
}

/// Writes `metrics.csv` and `metrics.json` with one row per epoch.
pub fn write_metrics(out: &Path, history: &[EpochMetrics]) -> Result<()> {
    let mut csv = String::from(
        "epoch,train_loss,train_accuracy,train_penalty,test_loss,test_accuracy,train_seconds,images_per_second\n",
    );
    for m in history {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            m.epoch,
            m.train_loss,
            m.train_accuracy,
            m.train_penalty,
            m.test_loss,
            m.test_accuracy,
            m.train_seconds,
            m.images_per_second
        ));
    }
    crate::output::write_atomic(&out.join("metrics.csv"), csv.as_bytes())?;
    crate::output::write_json(&out.join("metrics.json"), &history)
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let device = args.device.device()?.autodiff();
    let splits = args.data.load()?;
    let train = match args.train_limit {
        Some(0) => bail!("--train-limit 0 leaves no training images; give a positive count"),
        Some(limit) => splits.train.take(limit.min(splits.train.len())),
        None => splits.train,
    };
    let test = splits.test;

    let (mut trainer, mut meta) = if args.resume {
        let (network, meta) = load_checkpoint(&args.out, &device).with_context(|| {
            format!(
                "cannot resume from {}; drop --resume to start a new run",
                args.out.display()
            )
        })?;
        let mut config = meta.train.clone().with_context(|| {
            format!("{} has no training settings to resume", args.out.display())
        })?;
        check_same_data(&meta, &train, &args.out)?;
        // --epochs sets the new total; a cosine schedule stretches to it. The other settings
        // come from the checkpoint.
        config.epochs = args.epochs;
        let mut meta = meta;
        meta.train = Some(config.clone());
        let mut trainer = Trainer::new(network, config, meta.normalization)?;
        trainer.optimizer = load_optimizer(&args.out, &mut trainer.network, trainer.optimizer)?;
        trainer.history = meta.history.clone();
        tracing::info!(
            "resuming {} after epoch {}",
            args.out.display(),
            trainer.epochs_done()
        );
        (trainer, meta)
    } else {
        if args.out.join("model.json").exists() {
            bail!(
                "{} already contains a checkpoint; pass --resume to continue it or choose another --out",
                args.out.display()
            );
        }
        let architecture = args.arch.architecture()?;
        let [c, h, w] = train.shape;
        let config = architecture.config(FeatureShape::new(c, h, w), train.num_classes)?;
        device.seed(stream_seed(args.seed, streams::INIT, 0));
        let network = config.init(&device)?;
        let normalization = match args.normalization {
            NormalizationArg::PerImage => Normalization::PerImage,
            NormalizationArg::Standard => Normalization::standard_for(&train),
            NormalizationArg::Unit => Normalization::Unit,
        };
        let meta = CheckpointMeta {
            format: CHECKPOINT_FORMAT,
            train_images: Some(train.len()),
            network: network.config(),
            architecture: Some(architecture),
            normalization,
            dataset: train.name.clone(),
            train: Some(args.train_config()),
            history: Vec::new(),
        };
        let trainer = Trainer::new(network, args.train_config(), normalization)?;
        (trainer, meta)
    };
    tracing::info!(
        "training {} layers on {} ({} images), testing on {} ({} images)",
        trainer.network.layers.len(),
        train.name,
        train.len(),
        test.name,
        test.len()
    );
    train_loop_checked(&trainer, args.epochs, &args.out)?;
    train_loop(
        &mut trainer,
        &mut meta,
        &train,
        &test,
        args.epochs,
        &args.out,
    )
}

/// Options of the orthogonal-template penalty, shared by `train` and `experiment ortho`.
#[derive(Args, Debug)]
pub struct PenaltyArgs {
    /// Source of the compared templates: per-example templates or last-layer weights.
    #[arg(long, value_enum, default_value_t = OrthoKind::Templates)]
    pub ortho_kind: OrthoKind,
    /// Evaluation of the per-example penalty: exact (all classes), pairs or rademacher
    /// (unbiased estimators, cheaper).
    #[arg(long, value_enum, default_value_t = OrthoEstimator::Rademacher)]
    pub ortho_estimator: OrthoEstimator,
    /// Class pairs or sign-vector probes per example for the estimators.
    #[arg(long, default_value_t = 1)]
    pub ortho_samples: usize,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum OrthoKind {
    /// Per example: 1/(C^2 N) sum_n sum_{c != c'} <A_c[x_n], A_c'[x_n]>^2.
    Templates,
    /// Off-diagonal entries of W W^T for the last fully connected weights W.
    LastLayer,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum OrthoEstimator {
    /// All C templates per example.
    Exact,
    /// Random class pairs (2 pullbacks per pair).
    Pairs,
    /// Random sign vectors (2 pullbacks per probe).
    Rademacher,
}

impl PenaltyArgs {
    /// Builds the penalty with weight `lambda`, or `None` for `lambda = 0`.
    pub fn config(&self, lambda: f64) -> Option<PenaltyConfig> {
        let estimator = match self.ortho_estimator {
            OrthoEstimator::Exact => PenaltyEstimator::Exact,
            OrthoEstimator::Pairs => PenaltyEstimator::Pairs {
                pairs: self.ortho_samples,
            },
            OrthoEstimator::Rademacher => PenaltyEstimator::Rademacher {
                probes: self.ortho_samples,
            },
        };
        let kind = match self.ortho_kind {
            OrthoKind::Templates => PenaltyKind::Templates { estimator },
            OrthoKind::LastLayer => PenaltyKind::LastLayer,
        };
        (lambda != 0.0).then_some(PenaltyConfig {
            weight: lambda,
            kind,
        })
    }
}
