//! Serializable layer configurations.

use super::conv::Window;
use super::{
    Activation, ActivationKind, AvgPool2d, BatchNorm, Conv2d, Dropout, Flatten, GlobalAvgPool,
    Layer, Linear, MaxPool2d, Residual,
};
use crate::{FeatureShape, Result};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// Configuration of one layer, without its input shape: a [`Network`](crate::Network) chains
/// the shapes. Stored as JSON in checkpoints, tagged by `"type"`.
///
/// ```
/// use maso::LayerConfig;
///
/// let conv: LayerConfig = serde_json::from_str(r#"{"type": "conv2d", "out_channels": 8, "kernel": [3, 3]}"#).unwrap();
/// assert_eq!(conv, LayerConfig::conv2d(8, 3));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LayerConfig {
    /// Fully connected layer; see [`Linear`].
    Linear {
        out_features: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Convolution; see [`Conv2d`].
    Conv2d {
        out_channels: usize,
        kernel: [usize; 2],
        #[serde(default = "ones")]
        stride: [usize; 2],
        #[serde(default)]
        padding: [usize; 2],
        #[serde(default = "ones")]
        dilation: [usize; 2],
        #[serde(default = "yes")]
        bias: bool,
    },
    /// `max(0, z)`.
    Relu,
    /// `max(slope z, z)`.
    LeakyRelu { slope: f64 },
    /// `|z|`.
    Abs,
    /// Max-pooling; see [`MaxPool2d`].
    MaxPool2d {
        kernel: [usize; 2],
        stride: [usize; 2],
        #[serde(default)]
        padding: [usize; 2],
    },
    /// Average-pooling; see [`AvgPool2d`].
    AvgPool2d {
        kernel: [usize; 2],
        stride: [usize; 2],
        #[serde(default)]
        padding: [usize; 2],
    },
    /// Mean over each channel's plane.
    GlobalAvgPool,
    /// Batch normalization; see [`BatchNorm`].
    BatchNorm {
        #[serde(default = "default_epsilon")]
        epsilon: f64,
        #[serde(default = "default_momentum")]
        momentum: f64,
    },
    /// Inverted dropout with drop probability `probability`.
    Dropout { probability: f64 },
    /// Flattens the feature map to a vector.
    Flatten,
    /// `skip(x) + body(x)`; an empty `skip` is the identity.
    Residual {
        body: Vec<LayerConfig>,
        #[serde(default)]
        skip: Vec<LayerConfig>,
    },
}

fn yes() -> bool {
    true
}

fn ones() -> [usize; 2] {
    [1, 1]
}

fn default_epsilon() -> f64 {
    1e-5
}

fn default_momentum() -> f64 {
    0.1
}

impl LayerConfig {
    /// Creates a fully connected layer with bias.
    pub fn linear(out_features: usize) -> Self {
        Self::Linear {
            out_features,
            bias: true,
        }
    }

    /// Creates a square `kernel x kernel` convolution with stride 1, no padding and bias.
    pub fn conv2d(out_channels: usize, kernel: usize) -> Self {
        Self::Conv2d {
            out_channels,
            kernel: [kernel; 2],
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            bias: true,
        }
    }

    /// Square `kernel x kernel` max-pooling with stride `stride`.
    pub fn max_pool(kernel: usize, stride: usize) -> Self {
        Self::MaxPool2d {
            kernel: [kernel; 2],
            stride: [stride; 2],
            padding: [0, 0],
        }
    }

    /// Square `kernel x kernel` average-pooling with stride `stride`.
    pub fn avg_pool(kernel: usize, stride: usize) -> Self {
        Self::AvgPool2d {
            kernel: [kernel; 2],
            stride: [stride; 2],
            padding: [0, 0],
        }
    }

    /// Batch normalization with PyTorch's defaults (epsilon 1e-5, momentum 0.1).
    pub fn batch_norm() -> Self {
        Self::BatchNorm {
            epsilon: default_epsilon(),
            momentum: default_momentum(),
        }
    }

    /// Returns the configuration's `"type"` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Linear { .. } => "linear",
            Self::Conv2d { .. } => "conv2d",
            Self::Relu => "relu",
            Self::LeakyRelu { .. } => "leaky-relu",
            Self::Abs => "abs",
            Self::MaxPool2d { .. } => "max-pool2d",
            Self::AvgPool2d { .. } => "avg-pool2d",
            Self::GlobalAvgPool => "global-avg-pool",
            Self::BatchNorm { .. } => "batch-norm",
            Self::Dropout { .. } => "dropout",
            Self::Flatten => "flatten",
            Self::Residual { .. } => "residual",
        }
    }

    /// Builds the layer, randomly initialized, for inputs of shape `input`.
    ///
    /// # Errors
    ///
    /// [`MasoError::InvalidConfig`](crate::MasoError::InvalidConfig) for out-of-range
    /// parameters and [`MasoError::Shape`](crate::MasoError::Shape) when a window does not fit
    /// the input or a residual block's paths end in different shapes.
    pub fn init(&self, input: FeatureShape, device: &Device) -> Result<Layer> {
        let activation = |kind| Ok(Layer::Activation(Activation::new(kind, input)));
        match self {
            Self::Linear { out_features, bias } => {
                Linear::new(input, *out_features, *bias, device).map(Layer::Linear)
            }
            Self::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                dilation,
                bias,
            } => {
                let window = Window {
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                    dilation: *dilation,
                };
                Conv2d::new(input, *out_channels, window, *bias, device).map(Layer::Conv2d)
            }
            Self::Relu => activation(ActivationKind::Relu),
            Self::LeakyRelu { slope } => {
                if !(0.0..1.0).contains(slope) {
                    return Err(crate::MasoError::config(
                        "leaky-relu slope",
                        slope,
                        "must lie in [0, 1) for the activation to be convex (a MASO)",
                    ));
                }
                activation(ActivationKind::LeakyRelu { slope: *slope })
            }
            Self::Abs => activation(ActivationKind::Abs),
            Self::MaxPool2d {
                kernel,
                stride,
                padding,
            } => MaxPool2d::new(input, *kernel, *stride, *padding).map(Layer::MaxPool2d),
            Self::AvgPool2d {
                kernel,
                stride,
                padding,
            } => AvgPool2d::new(input, *kernel, *stride, *padding).map(Layer::AvgPool2d),
            Self::GlobalAvgPool => Ok(Layer::GlobalAvgPool(GlobalAvgPool::new(input))),
            Self::BatchNorm { epsilon, momentum } => {
                BatchNorm::new(input, *epsilon, *momentum, device).map(Layer::BatchNorm)
            }
            Self::Dropout { probability } => Dropout::new(*probability, input).map(Layer::Dropout),
            Self::Flatten => Ok(Layer::Flatten(Flatten::new(input))),
            Self::Residual { body, skip } => {
                Residual::new(input, body, skip, device).map(Layer::Residual)
            }
        }
    }
}
