//! 2-D toy data sets and small MLPs trained on them, for pictures of input-space partitions.

use crate::layer::{ActivationKind, Mode};
use crate::train::{OptimizerConfig, cross_entropy};
use crate::{FeatureShape, LayerConfig, MasoError, Network, NetworkConfig, Result};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::ops::ControlFlow;

/// A 2-D toy data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToyKind {
    /// Two interleaved half circles, 2 classes.
    Moons,
    /// Two concentric circles of radii 1 and 0.5, 2 classes.
    Circles,
    /// Two moons on the left and two circles on the right, 4 classes.
    MoonsCircles,
}

impl ToyKind {
    /// Number of classes.
    pub fn classes(self) -> usize {
        match self {
            Self::Moons | Self::Circles => 2,
            Self::MoonsCircles => 4,
        }
    }
}

/// Points and labels of a toy data set.
#[derive(Debug, Clone)]
pub struct ToySet {
    pub points: Vec<[f64; 2]>,
    pub labels: Vec<usize>,
    pub classes: usize,
}

impl ToySet {
    /// Draws `count` points with Gaussian noise of standard deviation `noise`, the classes in
    /// turn, centred near the origin and within about `[-1.5, 1.5]^2`.
    pub fn generate(kind: ToyKind, count: usize, noise: f64, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let classes = kind.classes();
        let mut points = Vec::with_capacity(count);
        let mut labels = Vec::with_capacity(count);
        for index in 0..count {
            let class = index % classes;
            let t = rng.random::<f64>();
            let point = match (kind, class) {
                (ToyKind::Moons, _) => moon(class, t),
                (ToyKind::Circles, _) => circle(class, t),
                (ToyKind::MoonsCircles, 0 | 1) => {
                    let [x, y] = moon(class, t);
                    [0.6 * x - 1.3, 0.6 * y]
                }
                (ToyKind::MoonsCircles, _) => {
                    let [x, y] = circle(class - 2, t);
                    [0.6 * x + 0.9, 0.6 * y]
                }
            };
            let jitter = [gaussian(&mut rng), gaussian(&mut rng)];
            points.push([point[0] + noise * jitter[0], point[1] + noise * jitter[1]]);
            labels.push(class);
        }
        Self {
            points,
            labels,
            classes,
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Returns whether the set has no points.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Returns the points as a `[N, 2]` tensor.
    pub fn inputs(&self, device: &Device) -> Tensor<2> {
        let values: Vec<f64> = self.points.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(values, [self.len(), 2]), device)
    }

    /// Returns the labels as a `[N]` tensor.
    pub fn targets(&self, device: &Device) -> Tensor<1, Int> {
        let values: Vec<i64> = self.labels.iter().map(|&l| l as i64).collect();
        Tensor::from_data(TensorData::new(values, [self.len()]), device)
    }

    /// Bounding box of the points widened by `margin` on each side, as `(min, max)`.
    pub fn bounds(&self, margin: f64) -> ([f64; 2], [f64; 2]) {
        let mut min = [f64::INFINITY; 2];
        let mut max = [f64::NEG_INFINITY; 2];
        for point in &self.points {
            for axis in 0..2 {
                min[axis] = min[axis].min(point[axis]);
                max[axis] = max[axis].max(point[axis]);
            }
        }
        (
            [min[0] - margin, min[1] - margin],
            [max[0] + margin, max[1] + margin],
        )
    }
}

/// Returns the point at parameter `t` in [0, 1] of the upper moon (class 0) or of the lower,
/// shifted one (class 1).
fn moon(class: usize, t: f64) -> [f64; 2] {
    let angle = PI * t;
    if class == 0 {
        [angle.cos() - 0.5, angle.sin() - 0.25]
    } else {
        [0.5 - angle.cos(), 0.25 - angle.sin()]
    }
}

/// Returns the point at parameter `t` of the outer circle (class 0, radius 1) or of the inner
/// one (class 1, radius 0.5).
fn circle(class: usize, t: f64) -> [f64; 2] {
    let angle = 2.0 * PI * t;
    let radius = if class == 0 { 1.0 } else { 0.5 };
    [radius * angle.cos(), radius * angle.sin()]
}

fn gaussian(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Returns the 2-layer MLP of the toy study: 2 inputs, two hidden layers of `width` units with
/// `activation`, and `classes` logits.
pub fn toy_mlp(width: usize, activation: ActivationKind, classes: usize) -> NetworkConfig {
    let activation = match activation {
        ActivationKind::Relu => LayerConfig::Relu,
        ActivationKind::LeakyRelu { slope } => LayerConfig::LeakyRelu { slope },
        ActivationKind::Abs => LayerConfig::Abs,
    };
    NetworkConfig::new(
        FeatureShape::flat(2),
        vec![
            LayerConfig::linear(width),
            activation.clone(),
            LayerConfig::linear(width),
            activation,
            LayerConfig::linear(classes),
        ],
    )
}

/// Trains `network` (on an autodiff device) with full-batch Adam on `set` for `epochs` steps
/// at learning rate `learning_rate`, calling `on_epoch(epoch, loss, network)` after each step,
/// and returns it. Training stops early when `on_epoch` returns `ControlFlow::Break`.
///
/// # Errors
///
/// When the network's device has no autodiff, the set is empty, or the loss is not finite.
pub fn train_full_batch(
    network: Network,
    set: &ToySet,
    epochs: usize,
    learning_rate: f64,
    on_epoch: &mut dyn FnMut(usize, f64, &Network) -> ControlFlow<()>,
) -> Result<Network> {
    let device = network.device();
    if !device.is_autodiff() {
        return Err(MasoError::config(
            "training device",
            "without autodiff",
            "create the network on `device.autodiff()` to train it",
        ));
    }
    if set.is_empty() {
        return Err(MasoError::Empty {
            what: "the toy data set".into(),
        });
    }
    let x = set.inputs(&device);
    let labels = set.targets(&device);
    let mut optimizer = OptimizerConfig::Adam { learning_rate }.init();
    let mut network = network;
    for epoch in 1..=epochs {
        let logits = network.forward(x.clone(), Mode::Train);
        let loss = cross_entropy(logits, labels.clone());
        let value = loss
            .clone()
            .detach()
            .into_data()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .map_err(|error| MasoError::Readback {
                detail: format!("{error:?}"),
            })?[0];
        if !value.is_finite() {
            return Err(MasoError::NonFinite {
                what: format!("the toy training loss at epoch {epoch}"),
                count: 1,
            });
        }
        let grads = GradientsParams::from_grads(loss.backward(), &network);
        network = optimizer.step(learning_rate, network, grads);
        if on_epoch(epoch, value, &network).is_break() {
            break;
        }
    }
    Ok(network)
}

/// Returns the fraction of `set` that `network` classifies correctly, in eval mode.
pub fn accuracy(network: &Network, set: &ToySet) -> f64 {
    let device = network.device();
    let predicted = network
        .forward(set.inputs(&device), Mode::Eval)
        .argmax(1)
        .reshape([set.len()]);
    let correct = predicted
        .equal(set.targets(&device))
        .int()
        .sum()
        .into_scalar::<i64>();
    correct as f64 / set.len() as f64
}
