//! Dropout: the identity in eval mode, a random mask in training.

use super::{LayerConfig, MasoLayer, Mode, Piece, wrong_piece};
use crate::{FeatureShape, MasoError, Result};
use burn::module::Module;
use burn::tensor::{Distribution, Tensor};

/// Inverted dropout with drop probability `probability`.
///
/// In training each unit is kept with probability `1 - probability` and scaled by
/// `1 / (1 - probability)`; that mask is the selected piece. In eval mode the layer is the
/// identity.
#[derive(Module, Debug)]
pub struct Dropout {
    #[module(skip)]
    probability: f64,
    #[module(skip)]
    shape: FeatureShape,
}

impl Dropout {
    /// Creates the layer; `probability` must lie in `[0, 1)`.
    pub fn new(probability: f64, shape: FeatureShape) -> Result<Self> {
        if !(0.0..1.0).contains(&probability) {
            return Err(MasoError::config(
                "dropout probability",
                probability,
                "must be at least 0 and below 1",
            ));
        }
        Ok(Self { probability, shape })
    }
}

impl MasoLayer for Dropout {
    fn input_shape(&self) -> FeatureShape {
        self.shape
    }

    fn output_shape(&self) -> FeatureShape {
        self.shape
    }

    fn select_piece(&self, x: &Tensor<2>, mode: Mode) -> Piece {
        if mode == Mode::Eval || self.probability == 0.0 {
            return Piece::Affine;
        }
        let keep = 1.0 - self.probability;
        let mask = Tensor::<2>::random(x.shape(), Distribution::Bernoulli(keep), &x.device());
        Piece::Mask(mask.div_scalar(keep).detach())
    }

    fn apply_piece(&self, x: Tensor<2>, piece: &Piece) -> Tensor<2> {
        match piece {
            Piece::Affine => x,
            Piece::Mask(mask) => x * mask.clone(),
            other => wrong_piece("dropout", other),
        }
    }

    fn pullback(&self, cotangent: Tensor<2>, piece: &Piece, per_example: usize) -> Tensor<2> {
        match piece {
            Piece::Affine => cotangent,
            Piece::Mask(mask) => {
                let [rows, features] = cotangent.dims();
                let batch = rows / per_example;
                let cotangent = cotangent.reshape([batch, per_example, features]);
                (cotangent * mask.clone().unsqueeze_dim::<3>(1)).reshape([rows, features])
            }
            other => wrong_piece("dropout", other),
        }
    }

    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2> {
        x
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::Dropout {
            probability: self.probability,
        }
    }
}
