//! Flatten: a change of feature shape with no effect on the values.

use super::{LayerConfig, MasoLayer, Mode, Piece};
use crate::FeatureShape;
use burn::module::Module;
use burn::tensor::Tensor;

/// Flattens `[channels, height, width]` features to a vector. Activations are already stored
/// flat, so the values pass through unchanged.
#[derive(Module, Debug)]
pub struct Flatten {
    #[module(skip)]
    input: FeatureShape,
}

impl Flatten {
    /// Creates the layer for inputs of shape `input`.
    pub fn new(input: FeatureShape) -> Self {
        Self { input }
    }
}

impl MasoLayer for Flatten {
    fn input_shape(&self) -> FeatureShape {
        self.input
    }

    fn output_shape(&self) -> FeatureShape {
        FeatureShape::flat(self.input.numel())
    }

    fn select_piece(&self, _x: &Tensor<2>, _mode: Mode) -> Piece {
        Piece::Affine
    }

    fn apply_piece(&self, x: Tensor<2>, _piece: &Piece) -> Tensor<2> {
        x
    }

    fn pullback(&self, cotangent: Tensor<2>, _piece: &Piece, _per_example: usize) -> Tensor<2> {
        cotangent
    }

    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2> {
        x
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::Flatten
    }
}
