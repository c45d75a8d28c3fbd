//! Batch normalization, folded into a per-channel affine map.

use super::{LayerConfig, MasoLayer, Mode, Piece, wrong_piece};
use crate::{FeatureShape, MasoError, Result};
use burn::module::{Initializer, Module, Param, RunningState};
use burn::tensor::module::batch_norm;
use burn::tensor::{Device, Tensor};

/// Batch normalization over channels: `y = gamma (z - mean) / sqrt(var + epsilon) + beta`.
///
/// In eval mode `mean` and `var` are the running averages, so the layer is the per-channel
/// affine map `y = scale z + shift` with `scale = gamma / sqrt(var + epsilon)`. In training
/// they are the batch's statistics (biased variance), which enter `scale` and `shift` with
/// gradient, and the running averages move by `momentum` towards them (unbiased variance),
/// as in PyTorch. After a fully connected layer each unit is a channel.
///
/// # Shapes
///
/// - input and output: `[batch, channels * height * width]`
#[derive(Module, Debug)]
pub struct BatchNorm {
    pub gamma: Param<Tensor<1>>,
    pub beta: Param<Tensor<1>>,
    pub running_mean: RunningState<Tensor<1>>,
    pub running_var: RunningState<Tensor<1>>,
    #[module(skip)]
    epsilon: f64,
    #[module(skip)]
    momentum: f64,
    #[module(skip)]
    shape: FeatureShape,
}

impl BatchNorm {
    /// Creates the layer with `gamma = 1`, `beta = 0`, running mean 0 and variance 1.
    pub fn new(shape: FeatureShape, epsilon: f64, momentum: f64, device: &Device) -> Result<Self> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(MasoError::config(
                "batch_norm epsilon",
                epsilon,
                "must be finite and positive",
            ));
        }
        if !(0.0..=1.0).contains(&momentum) {
            return Err(MasoError::config(
                "batch_norm momentum",
                momentum,
                "must lie in [0, 1]",
            ));
        }
        let channels = shape.channels;
        Ok(Self {
            gamma: Initializer::Ones.init([channels], device),
            beta: Initializer::Zeros.init([channels], device),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            epsilon,
            momentum,
            shape,
        })
    }

    fn channels(&self) -> usize {
        self.shape.channels
    }

    /// Folds the normalization into `scale` and `shift`, each `[1, channels, 1]`.
    fn fold(&self, mean: Tensor<1>, var: Tensor<1>) -> (Tensor<3>, Tensor<3>) {
        let channels = self.channels();
        let scale = self.gamma.val() / var.add_scalar(self.epsilon).sqrt();
        let shift = self.beta.val() - mean * scale.clone();
        (
            scale.reshape([1, channels, 1]),
            shift.reshape([1, channels, 1]),
        )
    }

    fn batch_statistics(&self, x: &Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        let [batch, _] = x.dims();
        let channels = self.channels();
        let planes = x.clone().reshape([batch, channels, self.shape.plane()]);
        let mean = planes.clone().mean_dim(2).mean_dim(0);
        let var = (planes - mean.clone()).square().mean_dim(2).mean_dim(0);
        (mean.reshape([channels]), var.reshape([channels]))
    }

    fn update_running(&self, mean: Tensor<1>, var: Tensor<1>, count: usize) {
        let momentum = self.momentum;
        let unbiased = if count > 1 {
            var.mul_scalar(count as f64 / (count - 1) as f64)
        } else {
            var
        };
        let device = mean.device();
        let old_mean = self.running_mean.value_sync().to_device(&device);
        let old_var = self.running_var.value_sync().to_device(&device);
        let new_mean = old_mean.mul_scalar(1.0 - momentum) + mean.detach().mul_scalar(momentum);
        let new_var = old_var.mul_scalar(1.0 - momentum) + unbiased.detach().mul_scalar(momentum);
        self.running_mean.update(new_mean.detach());
        self.running_var.update(new_var.detach());
    }

    fn eval_statistics(&self, device: &Device) -> (Tensor<1>, Tensor<1>) {
        (
            self.running_mean.value_sync().to_device(device),
            self.running_var.value_sync().to_device(device),
        )
    }
}

impl MasoLayer for BatchNorm {
    fn input_shape(&self) -> FeatureShape {
        self.shape
    }

    fn output_shape(&self) -> FeatureShape {
        self.shape
    }

    fn select_piece(&self, x: &Tensor<2>, mode: Mode) -> Piece {
        let (mean, var) = match mode {
            Mode::Eval => self.eval_statistics(&x.device()),
            Mode::Train => {
                let (mean, var) = self.batch_statistics(x);
                let count = x.dims()[0] * self.shape.plane();
                self.update_running(mean.clone(), var.clone(), count);
                (mean, var)
            }
        };
        let (scale, shift) = self.fold(mean, var);
        Piece::Normalize { scale, shift }
    }

    fn apply_piece(&self, x: Tensor<2>, piece: &Piece) -> Tensor<2> {
        let Piece::Normalize { scale, shift } = piece else {
            wrong_piece("batch_norm", piece)
        };
        let [batch, features] = x.dims();
        let planes = x.reshape([batch, self.channels(), self.shape.plane()]);
        (planes * scale.clone() + shift.clone()).reshape([batch, features])
    }

    fn pullback(&self, cotangent: Tensor<2>, piece: &Piece, _per_example: usize) -> Tensor<2> {
        let Piece::Normalize { scale, .. } = piece else {
            wrong_piece("batch_norm", piece)
        };
        let [rows, features] = cotangent.dims();
        let planes = cotangent.reshape([rows, self.channels(), self.shape.plane()]);
        (planes * scale.clone()).reshape([rows, features])
    }

    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, features] = x.dims();
        let (mean, var) = self.eval_statistics(&x.device());
        let planes = x.reshape([batch, self.channels(), self.shape.plane()]);
        batch_norm(
            planes,
            self.gamma.val(),
            self.beta.val(),
            mean,
            var,
            self.epsilon,
        )
        .reshape([batch, features])
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::BatchNorm {
            epsilon: self.epsilon,
            momentum: self.momentum,
        }
    }
}
