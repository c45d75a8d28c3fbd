//! Imported parameter values, and their assignment to a built network.

use crate::{ImportError, Result};
use burn::module::{Param, RunningState};
use burn::tensor::{Device, Tensor, TensorData};
use maso::{Layer, Network};

/// A dense f32 tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl HostTensor {
    /// Checks that the tensor has `shape`.
    pub fn expect_shape(&self, shape: &[usize]) -> Result<()> {
        if self.shape != shape {
            return Err(ImportError::Tensor {
                name: self.name.clone(),
                detail: format!("expected shape {shape:?}, found {:?}", self.shape),
            });
        }
        Ok(())
    }

    fn tensor<const D: usize>(&self, device: &Device) -> Tensor<D> {
        Tensor::from_data(
            TensorData::new(self.values.clone(), self.shape.clone()),
            device,
        )
    }
}

/// Parameter values of one layer, in the layout of the library's layers (PyTorch's).
#[derive(Debug, Clone, PartialEq)]
pub enum LayerWeights {
    /// A layer without parameters.
    None,
    /// `weight` `[out, in]` and optional `bias` `[out]`.
    Linear {
        weight: HostTensor,
        bias: Option<HostTensor>,
    },
    /// `weight` `[out, in, kh, kw]` and optional `bias` `[out]`.
    Conv2d {
        weight: HostTensor,
        bias: Option<HostTensor>,
    },
    /// Per-channel scale, shift and running statistics.
    BatchNorm {
        gamma: HostTensor,
        beta: HostTensor,
        mean: HostTensor,
        var: HostTensor,
    },
    /// The weights of a residual block's two paths.
    Residual {
        body: Vec<LayerWeights>,
        skip: Vec<LayerWeights>,
    },
}

/// Writes `weights` into the layers of `network`, which must have been built from the same
/// configuration.
///
/// # Errors
///
/// [`ImportError::Tensor`] when a tensor's shape differs from its parameter's.
pub fn assign_weights(network: &mut Network, weights: &[LayerWeights]) -> Result<()> {
    let device = network.device();
    assign_chain(&mut network.layers, weights, &device)
}

fn assign_chain(layers: &mut [Layer], weights: &[LayerWeights], device: &Device) -> Result<()> {
    if layers.len() != weights.len() {
        return Err(ImportError::Tensor {
            name: "<network>".into(),
            detail: format!(
                "{} layers but weights for {}; the weights belong to another configuration",
                layers.len(),
                weights.len()
            ),
        });
    }
    for (layer, weights) in layers.iter_mut().zip(weights) {
        assign_layer(layer, weights, device)?;
    }
    Ok(())
}

fn assign_layer(layer: &mut Layer, weights: &LayerWeights, device: &Device) -> Result<()> {
    match (layer, weights) {
        (_, LayerWeights::None) => Ok(()),
        (Layer::Linear(linear), LayerWeights::Linear { weight, bias }) => {
            weight.expect_shape(&linear.weight.dims())?;
            linear.weight = Param::from_tensor(weight.tensor(device));
            linear.bias = assign_bias(linear.bias.take(), bias.as_ref(), device)?;
            Ok(())
        }
        (Layer::Conv2d(conv), LayerWeights::Conv2d { weight, bias }) => {
            weight.expect_shape(&conv.weight.dims())?;
            conv.weight = Param::from_tensor(weight.tensor(device));
            conv.bias = assign_bias(conv.bias.take(), bias.as_ref(), device)?;
            Ok(())
        }
        (
            Layer::BatchNorm(norm),
            LayerWeights::BatchNorm {
                gamma,
                beta,
                mean,
                var,
            },
        ) => {
            let channels = norm.gamma.dims();
            for tensor in [gamma, beta, mean, var] {
                tensor.expect_shape(&channels)?;
            }
            norm.gamma = Param::from_tensor(gamma.tensor(device));
            norm.beta = Param::from_tensor(beta.tensor(device));
            norm.running_mean = RunningState::new(mean.tensor(device));
            norm.running_var = RunningState::new(var.tensor(device));
            Ok(())
        }
        (Layer::Residual(block), LayerWeights::Residual { body, skip }) => {
            assign_chain(&mut block.body, body, device)?;
            assign_chain(&mut block.skip, skip, device)
        }
        (layer, weights) => Err(ImportError::Tensor {
            name: format!("<{} layer>", layer.kind()),
            detail: format!("weights of another layer type: {}", weights.kind()),
        }),
    }
}

fn assign_bias(
    current: Option<Param<Tensor<1>>>,
    bias: Option<&HostTensor>,
    device: &Device,
) -> Result<Option<Param<Tensor<1>>>> {
    match (current, bias) {
        (Some(current), Some(bias)) => {
            bias.expect_shape(&current.dims())?;
            Ok(Some(Param::from_tensor(bias.tensor(device))))
        }
        (None, None) => Ok(None),
        (Some(_), None) => Err(ImportError::Tensor {
            name: "<bias>".into(),
            detail: "the layer has a bias but no bias tensor was given".into(),
        }),
        (None, Some(bias)) => Err(ImportError::Tensor {
            name: bias.name.clone(),
            detail: "the layer was configured without bias".into(),
        }),
    }
}

impl LayerWeights {
    fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Linear { .. } => "linear",
            Self::Conv2d { .. } => "conv2d",
            Self::BatchNorm { .. } => "batch-norm",
            Self::Residual { .. } => "residual",
        }
    }
}
