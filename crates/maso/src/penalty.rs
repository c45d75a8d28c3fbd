//! The orthogonal-template penalty: pushes the templates of different classes towards
//! orthogonality.
//!
//! For a minibatch `x_1..x_N` and `C` classes the per-example penalty is
//!
//! ```text
//! P = 1/(C^2 N) * sum_n sum_{c != c'} <A_c[x_n], A_c'[x_n]>^2
//! ```
//!
//! where `A_c[x]` is the template of class `c` at `x`. It is computed from pullbacks through
//! the pieces that the training forward pass selected, so its gradient with respect to every
//! weight needs only first-order autodiff. Batch norm in training mode contributes its
//! batch-statistics scale, which is the same for every example of the batch.
//!
//! Computing all `C` templates costs `C` pullbacks per example and their backward pass. Two
//! unbiased estimators of `sum_{c != c'} G_{cc'}^2`, with `G = A A^T` the Gram matrix of the
//! templates, cost less:
//!
//! - [`PenaltyEstimator::Pairs`]: `C (C - 1)` times the mean of `G_{cc'}^2` over random
//!   ordered pairs `c != c'`, two pullbacks per pair;
//! - [`PenaltyEstimator::Rademacher`]: `(|A^T v|^2 - |A^T w|^2)^2 / 4` for independent random
//!   sign vectors `v` and `w`, two pullbacks per probe. Its expectation is the off-diagonal sum
//!   because `Var(v^T G v) = 2 sum_{c != c'} G_{cc'}^2` for Rademacher `v` and symmetric `G`.
//!
//! The last-layer version penalizes the off-diagonal entries of `W W^T` for the final fully
//! connected weights `W` (`[classes, features]`): `1/C^2 sum_{c != c'} <W_c, W_c'>^2`.

use crate::layer::{Layer, Piece};
use crate::{MasoError, Network, Result};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

/// Source of the templates that the penalty compares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PenaltyKind {
    /// The per-example templates `A_c[x_n]`.
    Templates { estimator: PenaltyEstimator },
    /// The rows of the last fully connected layer's weights.
    LastLayer,
}

/// Evaluation method of the per-example penalty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PenaltyEstimator {
    /// All `C` templates of every example: exact, `C` pullbacks per example.
    Exact,
    /// `pairs` random ordered class pairs per example, `2 pairs` pullbacks; unbiased.
    Pairs { pairs: usize },
    /// `probes` pairs of random sign vectors per example, `2 probes` pullbacks; unbiased.
    Rademacher { probes: usize },
}

/// The penalty's weight and kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PenaltyConfig {
    /// `lambda` in `loss = cross_entropy + lambda * P`.
    pub weight: f64,
    pub kind: PenaltyKind,
}

impl PenaltyConfig {
    /// Checks the weight and the estimator's sample count.
    pub fn validate(&self) -> Result<()> {
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return Err(MasoError::config(
                "penalty weight (lambda)",
                self.weight,
                "must be finite and non-negative",
            ));
        }
        if let PenaltyKind::Templates {
            estimator:
                PenaltyEstimator::Pairs { pairs: 0 } | PenaltyEstimator::Rademacher { probes: 0 },
        } = self.kind
        {
            return Err(MasoError::config(
                "penalty samples",
                0,
                "an estimator needs at least one pair or probe per example",
            ));
        }
        Ok(())
    }
}

/// Cotangents at the logits for one estimator: `[batch * rows, classes]`, and the number of
/// rows per example.
fn cotangents(
    estimator: PenaltyEstimator,
    batch: usize,
    classes: usize,
    rng: &mut StdRng,
    device: &Device,
) -> (Tensor<2>, usize) {
    match estimator {
        PenaltyEstimator::Exact => (
            crate::affine::identity_cotangents(batch, classes, device, 0, classes),
            classes,
        ),
        PenaltyEstimator::Pairs { pairs } => {
            let mut values = vec![0.0f32; batch * 2 * pairs * classes];
            for row in 0..batch * pairs {
                let first = rng.random_range(0..classes);
                // A uniform class other than `first`.
                let second = (first + 1 + rng.random_range(0..classes - 1)) % classes;
                values[(2 * row) * classes + first] = 1.0;
                values[(2 * row + 1) * classes + second] = 1.0;
            }
            let data = TensorData::new(values, [batch * 2 * pairs, classes]);
            (Tensor::from_data(data, device), 2 * pairs)
        }
        PenaltyEstimator::Rademacher { probes } => {
            let count = batch * 2 * probes * classes;
            let values: Vec<f32> = (0..count)
                .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
                .collect();
            let data = TensorData::new(values, [batch * 2 * probes, classes]);
            (Tensor::from_data(data, device), 2 * probes)
        }
    }
}

/// Computes the per-example template penalty `P` of the batch whose training forward pass selected
/// `pieces` (all layers of `network`), with gradient.
///
/// `rng` draws the estimator's random classes or signs; the exact version draws nothing.
///
/// # Panics
///
/// If the network has fewer than two outputs (no pairs of classes) or `pieces` does not cover
/// every layer.
pub fn template_penalty(
    network: &Network,
    pieces: &[Piece],
    batch: usize,
    estimator: PenaltyEstimator,
    rng: &mut StdRng,
) -> Tensor<1> {
    assert_eq!(
        pieces.len(),
        network.depth(),
        "the penalty needs the pieces of every layer"
    );
    let classes = network.output_shape().numel();
    assert!(
        classes >= 2,
        "the template penalty needs at least two classes"
    );
    let device = network.device();
    let features = network.input_shape().numel();
    let (cotangent, rows) = cotangents(estimator, batch, classes, rng, &device);
    let templates = network
        .pullback(cotangent, pieces, rows)
        .reshape([batch, rows, features]);
    let scale = 1.0 / (classes * classes * batch) as f64;

    match estimator {
        PenaltyEstimator::Exact => {
            let gram = templates.clone().matmul(templates.swap_dims(1, 2));
            let squares = gram.square();
            let diagonal =
                squares.clone() * Tensor::<2>::eye(classes, &device).unsqueeze_dim::<3>(0);
            (squares.sum() - diagonal.sum()).mul_scalar(scale)
        }
        PenaltyEstimator::Pairs { pairs } => {
            let pair_rows = templates.reshape([batch, pairs, 2, features]);
            let first = pair_rows.clone().narrow(2, 0, 1);
            let second = pair_rows.narrow(2, 1, 1);
            let products = (first * second).sum_dim(3).square();
            // Each sampled pair stands for all C (C - 1) ordered pairs.
            let pairs_total = (classes * (classes - 1)) as f64;
            products
                .sum()
                .mul_scalar(scale * pairs_total / pairs as f64)
        }
        PenaltyEstimator::Rademacher { probes } => {
            let norms = templates.square().sum_dim(2).reshape([batch, probes, 2]);
            let difference = norms.clone().narrow(2, 0, 1) - norms.narrow(2, 1, 1);
            difference
                .square()
                .sum()
                .mul_scalar(scale / (4.0 * probes as f64))
        }
    }
}

/// Computes the last-layer penalty `1/C^2 sum_{c != c'} <W_c, W_c'>^2` of the network's final fully
/// connected layer, with gradient.
///
/// # Errors
///
/// When the last layer is not fully connected.
pub fn last_layer_penalty(network: &Network) -> Result<Tensor<1>> {
    let Some(Layer::Linear(linear)) = network.layers.last() else {
        return Err(MasoError::config(
            "penalty kind",
            "last-layer",
            "the network's last layer must be fully connected; use the template penalty instead",
        ));
    };
    let weight = linear.weight.val();
    let classes = weight.dims()[0];
    let device = weight.device();
    let gram = weight.clone().matmul(weight.transpose());
    let off_diagonal = gram
        * (Tensor::<2>::ones([classes, classes], &device) - Tensor::<2>::eye(classes, &device));
    Ok(off_diagonal
        .square()
        .sum()
        .div_scalar((classes * classes) as f64))
}

/// Mean over examples of the mean absolute cosine between the templates of different classes:
/// 0 for orthogonal templates, 1 for parallel ones. Examples whose templates are all zero
/// count as 0.
pub fn mean_template_cosine(slopes: &Tensor<3>) -> f64 {
    let [batch, classes, _] = slopes.dims();
    if classes < 2 || batch == 0 {
        return 0.0;
    }
    let device = slopes.device();
    let norms = slopes.clone().square().sum_dim(2).sqrt().clamp_min(1e-12);
    let unit = slopes.clone() / norms;
    let cosine = unit.clone().matmul(unit.swap_dims(1, 2)).abs();
    let off_diagonal = cosine
        * (Tensor::<2>::ones([classes, classes], &device) - Tensor::<2>::eye(classes, &device))
            .unsqueeze_dim::<3>(0);
    let pairs = (batch * classes * (classes - 1)) as f64;
    off_diagonal.sum().into_scalar::<f64>() / pairs
}
