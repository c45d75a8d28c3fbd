//! Fully connected layer.

use super::{LayerConfig, MasoLayer, Mode, Piece};
use crate::{FeatureShape, MasoError, Result};
use burn::module::{Initializer, Module, Param};
use burn::tensor::{Device, Tensor};

/// Fully connected layer `y = W x + b` with `W` of shape `[out_features, in_features]`
/// (PyTorch's layout).
///
/// Weights and bias are initialized uniformly in `[-1/sqrt(in), 1/sqrt(in)]`, as PyTorch does.
///
/// # Shapes
///
/// - input: `[batch, in_features]`, any feature shape with `in_features` units
/// - output: `[batch, out_features]`
#[derive(Module, Debug)]
pub struct Linear {
    pub weight: Param<Tensor<2>>,
    pub bias: Option<Param<Tensor<1>>>,
    #[module(skip)]
    input: FeatureShape,
}

impl Linear {
    /// Creates a randomly initialized layer for inputs of shape `input`.
    pub fn new(
        input: FeatureShape,
        out_features: usize,
        bias: bool,
        device: &Device,
    ) -> Result<Self> {
        let in_features = input.numel();
        if in_features == 0 || out_features == 0 {
            return Err(MasoError::config(
                "linear features",
                format!("{in_features} in, {out_features} out"),
                "a fully connected layer needs at least one input and one output unit",
            ));
        }
        let bound = 1.0 / (in_features as f64).sqrt();
        let init = Initializer::Uniform {
            min: -bound,
            max: bound,
        };
        Ok(Self {
            weight: init.init([out_features, in_features], device),
            bias: bias.then(|| init.init([out_features], device)),
            input,
        })
    }

    /// Number of output units.
    pub fn out_features(&self) -> usize {
        self.weight.dims()[0]
    }

    fn affine(&self, x: Tensor<2>) -> Tensor<2> {
        let y = x.matmul(self.weight.val().transpose());
        match &self.bias {
            Some(bias) => y + bias.val().unsqueeze_dim(0),
            None => y,
        }
    }
}

impl MasoLayer for Linear {
    fn input_shape(&self) -> FeatureShape {
        self.input
    }

    fn output_shape(&self) -> FeatureShape {
        FeatureShape::flat(self.out_features())
    }

    fn select_piece(&self, _x: &Tensor<2>, _mode: Mode) -> Piece {
        Piece::Affine
    }

    fn apply_piece(&self, x: Tensor<2>, _piece: &Piece) -> Tensor<2> {
        self.affine(x)
    }

    fn pullback(&self, cotangent: Tensor<2>, _piece: &Piece, _per_example: usize) -> Tensor<2> {
        cotangent.matmul(self.weight.val())
    }

    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2> {
        self.affine(x)
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::Linear {
            out_features: self.out_features(),
            bias: self.bias.is_some(),
        }
    }
}
