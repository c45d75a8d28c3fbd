//! Training with SGD or Adam on class-balanced minibatches, and evaluation.

use crate::data::{Normalization, check_dataset, images_tensor, labels_tensor};
use crate::layer::Mode;
use crate::penalty::{PenaltyConfig, PenaltyKind, last_layer_penalty, template_penalty};
use crate::{MasoError, Network, Result};
use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};
use maso_data::Dataset;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Optimizer and learning rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OptimizerConfig {
    /// SGD with heavy-ball momentum (no dampening, as PyTorch's default).
    Sgd { learning_rate: f64, momentum: f64 },
    /// Adam with betas 0.9 and 0.999 and epsilon 1e-8.
    Adam { learning_rate: f64 },
}

impl OptimizerConfig {
    /// Returns the base learning rate.
    pub fn learning_rate(&self) -> f64 {
        match *self {
            Self::Sgd { learning_rate, .. } | Self::Adam { learning_rate } => learning_rate,
        }
    }

    /// Creates a fresh optimizer state.
    pub fn init(&self) -> ModuleOptimizer {
        match *self {
            Self::Sgd { momentum, .. } => {
                let momentum = (momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(momentum)
                        .with_dampening(0.0)
                });
                SgdConfig::new().with_momentum(momentum).init()
            }
            Self::Adam { .. } => AdamConfig::new().with_epsilon(1e-8).init(),
        }
    }
}

/// Learning-rate schedule over the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LearningRateSchedule {
    /// The optimizer's learning rate throughout, as in the spline-theory authors' runs.
    #[default]
    Constant,
    /// Cosine decay from the learning rate to 0 over all epochs, updated every step.
    Cosine,
}

impl LearningRateSchedule {
    /// Factor of the base learning rate at `progress` in `[0, 1]` of the run.
    pub fn factor(&self, progress: f64) -> f64 {
        match self {
            Self::Constant => 1.0,
            Self::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress.clamp(0.0, 1.0)).cos()),
        }
    }
}

/// Settings of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Number of passes over the training set.
    pub epochs: usize,
    /// Images per minibatch.
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    /// Seed of the minibatch order, dropout and the penalty's estimators; `maso train` also
    /// initializes the weights from it (see [`stream_seed`]).
    pub seed: u64,
    /// Whether each minibatch contains `batch_size / classes` images of every class (the rest
    /// drawn from rotating classes) rather than a uniform shuffle.
    pub balanced: bool,
    /// Learning-rate schedule of the run.
    #[serde(default)]
    pub schedule: LearningRateSchedule,
    /// The orthogonal-template penalty added to the cross-entropy, if any.
    #[serde(default)]
    pub penalty: Option<PenaltyConfig>,
}

impl TrainConfig {
    fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(MasoError::config("batch size", 0, "must be at least 1"));
        }
        if let OptimizerConfig::Sgd { momentum, .. } = self.optimizer {
            if !(0.0..1.0).contains(&momentum) {
                return Err(MasoError::config(
                    "SGD momentum",
                    momentum,
                    "must lie in [0, 1)",
                ));
            }
        }
        let rate = self.optimizer.learning_rate();
        if !(rate.is_finite() && rate > 0.0) {
            return Err(MasoError::config(
                "learning rate",
                rate,
                "must be finite and positive",
            ));
        }
        if let Some(penalty) = &self.penalty {
            penalty.validate()?;
        }
        Ok(())
    }
}

/// Random streams derived from a run's seed.
pub mod streams {
    /// Weight initialization (`maso train` seeds the device with it before building the
    /// network).
    pub const INIT: u64 = 0;
    /// Minibatch order.
    pub const BATCHES: u64 = 1;
    /// Dropout masks (burn's device generator).
    pub const DROPOUT: u64 = 2;
    /// The penalty's random classes or signs.
    pub const PENALTY: u64 = 3;
}

/// Derives the seed of random stream `stream` at step `index` (an epoch) from a run's `seed`,
/// with the SplitMix64 finalizer, so that the streams of different seeds do not overlap.
pub fn stream_seed(seed: u64, stream: u64, index: u64) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    mix(mix(mix(seed).wrapping_add(stream)).wrapping_add(index))
}

/// Metrics of one finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's minibatches, in training mode, without the
    /// penalty.
    pub train_loss: f64,
    /// Accuracy over the epoch's minibatches, in training mode.
    pub train_accuracy: f64,
    /// Mean orthogonal-template penalty `P` (without its weight) over the epoch's
    /// minibatches; 0 without a penalty.
    #[serde(default)]
    pub train_penalty: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    /// Wall-clock seconds of the training part of the epoch.
    pub train_seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
}

/// Progress of one training step, for progress bars.
#[derive(Debug, Clone, Copy)]
pub struct StepProgress {
    pub step: usize,
    pub steps: usize,
    /// Mean loss and accuracy so far in this epoch.
    pub loss: f64,
    pub accuracy: f64,
    pub images_per_second: f64,
}

/// Loss, accuracy and predictions of a network on a data set, in eval mode.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub predictions: Vec<usize>,
}

/// Mean cross-entropy of `logits` (`[batch, classes]`) against `labels`.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let picked = log_softmax(logits, 1).gather(1, labels.unsqueeze_dim::<2>(1));
    picked.mean().neg()
}

/// Draws the minibatches of one epoch, as lists of example indices.
fn epoch_batches(
    labels: &[u8],
    classes: usize,
    config: &TrainConfig,
    rng: &mut StdRng,
) -> Vec<Vec<usize>> {
    let count = labels.len();
    let batch = config.batch_size.min(count);
    let steps = count / batch;
    if !config.balanced {
        let mut order: Vec<usize> = (0..count).collect();
        order.shuffle(rng);
        return order.chunks_exact(batch).map(<[usize]>::to_vec).collect();
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &label) in labels.iter().enumerate() {
        by_class[label as usize].push(i);
    }
    by_class.retain(|members| !members.is_empty());
    for members in &mut by_class {
        members.shuffle(rng);
    }
    let present = by_class.len();
    let mut cursors = vec![0usize; present];
    let mut draw = |class: usize, rng: &mut StdRng| {
        let members = &mut by_class[class];
        if cursors[class] == members.len() {
            members.shuffle(rng);
            cursors[class] = 0;
        }
        cursors[class] += 1;
        members[cursors[class] - 1]
    };
    let mut batches = Vec::with_capacity(steps);
    for step in 0..steps {
        let mut indices = Vec::with_capacity(batch);
        for slot in 0..batch {
            // Slot order rotates with the step so the remainder classes vary.
            let class = (slot + step * batch) % present;
            indices.push(draw(class, rng));
        }
        indices.shuffle(rng);
        batches.push(indices);
    }
    batches
}

/// A network being trained, with its optimizer state and history.
///
/// NOTE: burn's flex backend draws weight initializations and dropout masks from one random
/// generator per process, so trainers running on several threads at once are not
/// reproducible from their seeds. Run them one after another for repeatable results.
pub struct Trainer {
    /// The network, on an autodiff device.
    pub network: Network,
    pub optimizer: ModuleOptimizer,
    pub config: TrainConfig,
    pub normalization: Normalization,
    pub history: Vec<EpochMetrics>,
}

impl Trainer {
    /// Starts training `network`, which must live on an autodiff device.
    ///
    /// # Errors
    ///
    /// When the batch size is zero, the learning rate is not positive, or the network's device
    /// has no autodiff.
    pub fn new(
        network: Network,
        config: TrainConfig,
        normalization: Normalization,
    ) -> Result<Self> {
        config.validate()?;
        let autodiff = network.device().is_autodiff();
        if !autodiff {
            return Err(MasoError::config(
                "training device",
                "without autodiff",
                "create the network on `device.autodiff()` to train it",
            ));
        }
        let optimizer = config.optimizer.init();
        Ok(Self {
            network,
            optimizer,
            config,
            normalization,
            history: Vec::new(),
        })
    }

    /// Number of finished epochs.
    pub fn epochs_done(&self) -> usize {
        self.history.len()
    }

    /// Trains one epoch on `train`, evaluates on `test`, records and returns the metrics.
    ///
    /// The epoch's minibatch order and dropout masks depend only on the seed and the epoch
    /// number, so a run resumed from a checkpoint continues as the uninterrupted run would.
    pub fn run_epoch(
        &mut self,
        train: &Dataset,
        test: &Dataset,
        on_step: &mut dyn FnMut(StepProgress),
    ) -> Result<EpochMetrics> {
        let classes = self.network.output_shape().numel();
        check_dataset(train, self.network.input_shape(), classes)?;
        check_dataset(test, self.network.input_shape(), classes)?;
        let epoch = self.epochs_done() + 1;
        let seed = self.config.seed;
        let index = epoch as u64;
        let mut rng = StdRng::seed_from_u64(stream_seed(seed, streams::BATCHES, index));
        let device = self.network.device();
        device.seed(stream_seed(seed, streams::DROPOUT, index));

        let batches = epoch_batches(&train.labels, classes, &self.config, &mut rng);
        // The penalty's estimators draw from their own stream, so the minibatch order does not
        // depend on the penalty.
        let mut penalty_rng = StdRng::seed_from_u64(stream_seed(seed, streams::PENALTY, index));
        let penalty = self.config.penalty.filter(|penalty| penalty.weight > 0.0);
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let mut penalty_sum = 0.0;
        for (step, indices) in batches.iter().enumerate() {
            let x = images_tensor(train, indices, self.normalization, &device);
            let labels = labels_tensor(train, indices, &device);
            let (logits, pieces) =
                self.network
                    .forward_pieces(x, Mode::Train, self.network.depth());
            let predicted = logits.clone().argmax(1).reshape([indices.len()]);
            let cross_entropy = cross_entropy(logits, labels.clone());
            let mut loss = cross_entropy.clone();
            let mut penalty_value = None;
            if let Some(penalty) = penalty {
                let value = match penalty.kind {
                    PenaltyKind::Templates { estimator } => template_penalty(
                        &self.network,
                        &pieces,
                        indices.len(),
                        estimator,
                        &mut penalty_rng,
                    ),
                    PenaltyKind::LastLayer => last_layer_penalty(&self.network)?,
                };
                penalty_value = Some(value.clone());
                loss = loss + value.mul_scalar(penalty.weight);
            }
            drop(pieces);

            // One read from the device per step: the cross-entropy and the penalty.
            let mut parts = vec![cross_entropy.detach()];
            parts.extend(penalty_value.map(Tensor::detach));
            let values = read_f64(Tensor::cat(parts, 0))?;
            let (loss_value, step_penalty) = (values[0], values.get(1).copied().unwrap_or(0.0));
            let weight = penalty.map_or(0.0, |penalty| penalty.weight);
            if !(loss_value + weight * step_penalty).is_finite() {
                return Err(MasoError::NonFinite {
                    what: format!(
                        "the training loss at epoch {epoch}, step {} (lower the learning rate)",
                        step + 1
                    ),
                    count: 1,
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &self.network);
            let empty = placeholder(&self.network);
            let network = std::mem::replace(&mut self.network, empty);
            let progress = (epoch - 1) as f64 / self.config.epochs.max(1) as f64
                + step as f64 / (batches.len() * self.config.epochs.max(1)) as f64;
            let learning_rate =
                self.config.optimizer.learning_rate() * self.config.schedule.factor(progress);
            self.network = self.optimizer.step(learning_rate, network, grads);

            loss_sum += loss_value * indices.len() as f64;
            penalty_sum += step_penalty * indices.len() as f64;
            correct += predicted.equal(labels).int().sum().into_scalar::<i64>() as usize;
            seen += indices.len();
            on_step(StepProgress {
                step: step + 1,
                steps: batches.len(),
                loss: loss_sum / seen as f64,
                accuracy: correct as f64 / seen as f64,
                images_per_second: seen as f64 / start.elapsed().as_secs_f64(),
            });
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let evaluation = evaluate(&self.network.valid(), test, self.normalization, 256)?;
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            train_penalty: penalty_sum / seen.max(1) as f64,
            test_loss: evaluation.loss,
            test_accuracy: evaluation.accuracy,
            train_seconds,
            images_per_second: seen as f64 / train_seconds,
        };
        self.history.push(metrics.clone());
        Ok(metrics)
    }
}

fn read_f64(tensor: Tensor<1>) -> Result<Vec<f64>> {
    tensor
        .into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .map_err(|error| MasoError::Readback {
            detail: format!("{error:?}"),
        })
}

/// Returns an empty stand-in so that the optimizer can take the network by value.
fn placeholder(network: &Network) -> Network {
    network.without_layers()
}

/// Evaluates `network` in eval mode on `data`, `batch_size` images at a time.
///
/// # Errors
///
/// When `data` is empty, its images do not have the network's input shape, or it has more
/// classes than the network has outputs.
pub fn evaluate(
    network: &Network,
    data: &Dataset,
    normalization: Normalization,
    batch_size: usize,
) -> Result<Evaluation> {
    let classes = network.output_shape().numel();
    check_dataset(data, network.input_shape(), classes)?;
    let device = network.device();
    let indices: Vec<usize> = (0..data.len()).collect();
    let (mut loss_sum, mut correct) = (0.0, 0usize);
    let mut predictions = Vec::with_capacity(data.len());
    for chunk in indices.chunks(batch_size.max(1)) {
        let x = images_tensor(data, chunk, normalization, &device);
        let labels = labels_tensor(data, chunk, &device);
        let logits = network.forward_reference(x, network.depth());
        let predicted = logits.clone().argmax(1).reshape([chunk.len()]);
        loss_sum += cross_entropy(logits, labels.clone()).into_scalar::<f64>() * chunk.len() as f64;
        correct += predicted
            .clone()
            .equal(labels)
            .int()
            .sum()
            .into_scalar::<i64>() as usize;
        let predicted = predicted
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .map_err(|error| MasoError::Readback {
                detail: format!("{error:?}"),
            })?;
        predictions.extend(predicted.iter().map(|&p| p as usize));
    }
    Ok(Evaluation {
        loss: loss_sum / data.len() as f64,
        accuracy: correct as f64 / data.len() as f64,
        predictions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(balanced: bool, batch_size: usize) -> TrainConfig {
        TrainConfig {
            epochs: 1,
            batch_size,
            optimizer: OptimizerConfig::Sgd {
                learning_rate: 0.1,
                momentum: 0.9,
            },
            seed: 7,
            balanced,
            schedule: LearningRateSchedule::Constant,
            penalty: None,
        }
    }

    #[test]
    fn balanced_batches_hold_every_class_equally() {
        let labels: Vec<u8> = (0..300)
            .map(|i| if i < 200 { 0 } else { (i % 2 + 1) as u8 })
            .collect();
        let mut rng = StdRng::seed_from_u64(1);
        let batches = epoch_batches(&labels, 3, &config(true, 30), &mut rng);
        assert_eq!(batches.len(), 10);
        for batch in &batches {
            let mut counts = [0; 3];
            for &i in batch {
                counts[labels[i] as usize] += 1;
            }
            assert_eq!(counts, [10, 10, 10]);
        }
    }

    #[test]
    fn shuffled_batches_cover_each_example_once() {
        let labels = vec![0u8; 100];
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen: Vec<usize> = epoch_batches(&labels, 1, &config(false, 10), &mut rng).concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }
}
