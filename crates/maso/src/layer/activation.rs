//! Two-piece activations: ReLU, leaky ReLU and absolute value.

use super::{LayerConfig, MasoLayer, Mode, Piece, wrong_piece};
use crate::FeatureShape;
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::{leaky_relu, relu};
use serde::{Deserialize, Serialize};

/// A convex two-piece activation `max(a z, z)` applied per unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ActivationKind {
    /// `max(0, z)`: pieces `0` and `z`.
    Relu,
    /// `max(slope z, z)` with `0 <= slope < 1`: pieces `slope z` and `z`.
    LeakyRelu { slope: f64 },
    /// `|z| = max(-z, z)`: pieces `-z` and `z`.
    Abs,
}

impl ActivationKind {
    /// Slope of the piece used where the input is not positive.
    pub fn negative_slope(&self) -> f64 {
        match self {
            ActivationKind::Relu => 0.0,
            ActivationKind::LeakyRelu { slope } => *slope,
            ActivationKind::Abs => -1.0,
        }
    }
}

/// A two-piece activation layer. Its region code is one bit per unit: whether the input is
/// positive.
///
/// # Shapes
///
/// - input and output: `[batch, features]`, any feature shape
#[derive(Module, Debug)]
pub struct Activation {
    #[module(skip)]
    kind: ActivationKind,
    #[module(skip)]
    shape: FeatureShape,
}

impl Activation {
    /// Creates the activation for inputs of shape `shape`.
    pub fn new(kind: ActivationKind, shape: FeatureShape) -> Self {
        Self { kind, shape }
    }

    /// Returns which activation this is.
    pub fn kind(&self) -> ActivationKind {
        self.kind
    }
}

impl MasoLayer for Activation {
    fn input_shape(&self) -> FeatureShape {
        self.shape
    }

    fn output_shape(&self) -> FeatureShape {
        self.shape
    }

    fn select_piece(&self, x: &Tensor<2>, _mode: Mode) -> Piece {
        let positive = x.clone().detach().greater_elem(0.0).float();
        let low = self.kind.negative_slope();
        // slope = low where z <= 0 and 1 where z > 0.
        Piece::Slopes(positive.mul_scalar(1.0 - low).add_scalar(low))
    }

    fn apply_piece(&self, x: Tensor<2>, piece: &Piece) -> Tensor<2> {
        match piece {
            Piece::Slopes(slopes) => x * slopes.clone(),
            other => wrong_piece("activation", other),
        }
    }

    fn pullback(&self, cotangent: Tensor<2>, piece: &Piece, per_example: usize) -> Tensor<2> {
        let Piece::Slopes(slopes) = piece else {
            wrong_piece("activation", piece)
        };
        if per_example == 1 {
            return cotangent * slopes.clone();
        }
        let [rows, features] = cotangent.dims();
        let batch = rows / per_example;
        let cotangent = cotangent.reshape([batch, per_example, features]);
        let slopes = slopes.clone().unsqueeze_dim::<3>(1);
        (cotangent * slopes).reshape([rows, features])
    }

    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2> {
        match self.kind {
            ActivationKind::Relu => relu(x),
            ActivationKind::LeakyRelu { slope } => leaky_relu(x, slope),
            ActivationKind::Abs => x.abs(),
        }
    }

    fn config(&self) -> LayerConfig {
        match self.kind {
            ActivationKind::Relu => LayerConfig::Relu,
            ActivationKind::LeakyRelu { slope } => LayerConfig::LeakyRelu { slope },
            ActivationKind::Abs => LayerConfig::Abs,
        }
    }
}
