//! MASO layers.
//!
//! Each layer is a max-affine spline operator: every output unit is the maximum of R affine
//! functions of the layer's input. For one batch, [`MasoLayer::select_piece`] computes which
//! piece each unit uses (its region code), without gradient. [`MasoLayer::apply_piece`] then
//! applies that affine piece, and [`MasoLayer::pullback`] applies its transpose to cotangents.
//! Both are plain differentiable tensor ops, so a training loss that contains templates needs
//! only first-order autodiff.
//!
//! | layer | pieces R | selected piece |
//! |---|---|---|
//! | [`Linear`], [`Conv2d`], [`AvgPool2d`], [`GlobalAvgPool`], [`Flatten`] | 1 | the layer |
//! | [`BatchNorm`] | 1 | per-channel scale and shift (batch statistics in training) |
//! | [`Dropout`] | 1 | identity in eval mode, the sampled mask in training |
//! | [`Activation`] ReLU, leaky ReLU, absolute value | 2 | per-unit slope |
//! | [`MaxPool2d`] | window size | the argmax position of each window |
//! | [`Residual`] | composite | the pieces of its body and skip path |
//!
//! Activations are flat `[batch, features]` tensors; each layer stores the [`FeatureShape`] of
//! its input and output.

mod activation;
mod batch_norm;
mod config;
mod conv;
mod dropout;
mod linear;
mod pool;
mod reshape;
mod residual;

pub use activation::{Activation, ActivationKind};
pub use batch_norm::BatchNorm;
pub use config::LayerConfig;
pub use conv::{Conv2d, Window};
pub use dropout::Dropout;
pub use linear::Linear;
pub use pool::{AvgPool2d, GlobalAvgPool, MaxPool2d};
pub use reshape::Flatten;
pub use residual::Residual;
pub(crate) use residual::build_chain;

use crate::FeatureShape;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

/// Whether a forward pass trains (batch statistics, dropout) or evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Batch norm normalizes with the batch's statistics and updates its running averages;
    /// dropout samples a mask.
    Train,
    /// Batch norm uses its running averages and dropout is the identity.
    Eval,
}

/// The affine piece that a layer selected for each example of a batch.
///
/// Together with the layer's parameters, a piece fixes the layer's affine map
/// `z -> A z + b` on the region that contains the batch's input.
#[derive(Debug, Clone)]
pub enum Piece {
    /// The layer has a single piece (fully connected, convolution, pooling by averaging,
    /// flatten, dropout in eval mode).
    Affine,
    /// Per-unit slope of a two-piece activation, `[batch, features]`, without gradient.
    Slopes(Tensor<2>),
    /// Flat `height * width` index of each max-pool window's argmax in its input plane,
    /// `[batch, channels, output positions]`.
    Argmax(Tensor<3, Int>),
    /// Per-channel `y = scale * z + shift` of batch norm, each `[1, channels, 1]`.
    ///
    /// In training the batch's statistics enter both, with gradient, so they are functions of
    /// the weights but the same for every example of the batch.
    Normalize { scale: Tensor<3>, shift: Tensor<3> },
    /// Dropout's sampled mask, already divided by the keep probability, `[batch, features]`.
    Mask(Tensor<2>),
    /// Pieces of a residual block's body and of its skip path (empty for the identity).
    Residual { body: Vec<Piece>, skip: Vec<Piece> },
}

/// The spline view of one layer.
pub trait MasoLayer {
    /// Shape of one example's input.
    fn input_shape(&self) -> FeatureShape;

    /// Shape of one example's output.
    fn output_shape(&self) -> FeatureShape;

    /// Selects the affine piece of every unit for the batch `x` (`[batch, input features]`).
    ///
    /// Region codes are chosen without gradient. Batch norm in [`Mode::Train`] is the
    /// exception: its piece contains the batch statistics with gradient, and it also updates its
    /// running averages.
    fn select_piece(&self, x: &Tensor<2>, mode: Mode) -> Piece;

    /// Applies the selected affine piece to `x`, with gradient.
    ///
    /// `apply_piece(x, select_piece(x))` is the layer's output at `x`, and
    /// `apply_piece(z, piece)` for another `z` evaluates the same affine piece there.
    fn apply_piece(&self, x: Tensor<2>, piece: &Piece) -> Tensor<2>;

    /// Selects the pieces for `x` and applies them: the layer's output and its pieces.
    fn forward_piece(&self, x: Tensor<2>, mode: Mode) -> (Tensor<2>, Piece) {
        let piece = self.select_piece(&x, mode);
        (self.apply_piece(x, &piece), piece)
    }

    /// Applies the transpose of the selected piece's slope to cotangents, with gradient.
    ///
    /// `cotangent` is `[batch * per_example, output features]`: row `n * per_example + j` is
    /// the `j`-th cotangent of example `n`. Returns `[batch * per_example, input features]`.
    fn pullback(&self, cotangent: Tensor<2>, piece: &Piece, per_example: usize) -> Tensor<2>;

    /// Evaluates the layer in eval mode with burn's own ops (`relu`, `max_pool2d`,
    /// `batch_norm`...), without region codes. Tests compare the spline view against it.
    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2>;

    /// Returns the layer's configuration.
    fn config(&self) -> LayerConfig;
}

/// A layer of a [`Network`](crate::Network): one of the MASO layers of this module.
#[derive(Module, Debug)]
pub enum Layer {
    Linear(Linear),
    Conv2d(Conv2d),
    Activation(Activation),
    MaxPool2d(MaxPool2d),
    AvgPool2d(AvgPool2d),
    GlobalAvgPool(GlobalAvgPool),
    BatchNorm(BatchNorm),
    Dropout(Dropout),
    Flatten(Flatten),
    Residual(Residual),
}

macro_rules! dispatch {
    ($self:ident, $layer:ident => $body:expr) => {
        match $self {
            Layer::Linear($layer) => $body,
            Layer::Conv2d($layer) => $body,
            Layer::Activation($layer) => $body,
            Layer::MaxPool2d($layer) => $body,
            Layer::AvgPool2d($layer) => $body,
            Layer::GlobalAvgPool($layer) => $body,
            Layer::BatchNorm($layer) => $body,
            Layer::Dropout($layer) => $body,
            Layer::Flatten($layer) => $body,
            Layer::Residual($layer) => $body,
        }
    };
}

impl MasoLayer for Layer {
    fn input_shape(&self) -> FeatureShape {
        dispatch!(self, layer => layer.input_shape())
    }

    fn output_shape(&self) -> FeatureShape {
        dispatch!(self, layer => layer.output_shape())
    }

    fn select_piece(&self, x: &Tensor<2>, mode: Mode) -> Piece {
        dispatch!(self, layer => layer.select_piece(x, mode))
    }

    fn apply_piece(&self, x: Tensor<2>, piece: &Piece) -> Tensor<2> {
        dispatch!(self, layer => layer.apply_piece(x, piece))
    }

    fn forward_piece(&self, x: Tensor<2>, mode: Mode) -> (Tensor<2>, Piece) {
        dispatch!(self, layer => layer.forward_piece(x, mode))
    }

    fn pullback(&self, cotangent: Tensor<2>, piece: &Piece, per_example: usize) -> Tensor<2> {
        dispatch!(self, layer => layer.pullback(cotangent, piece, per_example))
    }

    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2> {
        dispatch!(self, layer => layer.forward_reference(x))
    }

    fn config(&self) -> LayerConfig {
        dispatch!(self, layer => layer.config())
    }
}

impl Layer {
    /// Short name of the layer type, as used in configurations and code files.
    pub fn kind(&self) -> &'static str {
        self.config().kind()
    }
}

/// Reshapes a flat `[batch, c * h * w]` activation to `[batch, c, h, w]`.
pub(crate) fn to_image(x: Tensor<2>, shape: FeatureShape) -> Tensor<4> {
    let [batch, _] = x.dims();
    x.reshape([batch, shape.channels, shape.height, shape.width])
}

/// Reshapes `[batch, c, h, w]` to a flat `[batch, c * h * w]` activation.
pub(crate) fn to_flat(x: Tensor<4>) -> Tensor<2> {
    let [batch, c, h, w] = x.dims();
    x.reshape([batch, c * h * w])
}

/// Panics with a message naming the piece when a layer receives a piece of another layer.
///
/// A [`Network`](crate::Network) always pairs layers and pieces correctly; this only fires on
/// a programming error in code that builds pieces by hand.
#[track_caller]
pub(crate) fn wrong_piece(layer: &str, piece: &Piece) -> ! {
    panic!("{layer} received a piece of another layer type: {piece:?}")
}
