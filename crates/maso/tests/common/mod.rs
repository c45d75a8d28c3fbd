//! Random networks of every layer mix, shared by the exactness tests.

#![allow(dead_code)]

use burn::tensor::{Device, Distribution, FloatDType, Tensor};
use maso::layer::ActivationKind;
use maso::{FeatureShape, LayerConfig, Mode, Network, NetworkConfig};
use proptest::prelude::*;
use std::sync::OnceLock;

/// Returns the flex device with f64 as its default float type.
pub fn f64_device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            let mut device = Device::flex();
            device
                .configure(FloatDType::F64)
                .expect("f64 must be configured before any tensor is created in this test binary");
            device
        })
        .clone()
}

/// One step of a randomly drawn architecture, before shapes are known.
#[derive(Debug, Clone)]
pub enum Step {
    Conv {
        channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    Activation(ActivationKind),
    MaxPool {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    AvgPool {
        kernel: usize,
        stride: usize,
    },
    BatchNorm,
    Dropout,
    Residual {
        projection: bool,
        channels: usize,
    },
}

fn activation() -> impl Strategy<Value = ActivationKind> {
    prop_oneof![
        Just(ActivationKind::Relu),
        (0.01f64..0.5).prop_map(|slope| ActivationKind::LeakyRelu { slope }),
        Just(ActivationKind::Abs),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1usize..5, 1usize..4, 1usize..3, 0usize..2).prop_map(
            |(channels, kernel, stride, padding)| {
                Step::Conv {
                    channels,
                    kernel,
                    stride,
                    padding,
                }
            }
        ),
        activation().prop_map(Step::Activation),
        (2usize..4, 1usize..3, 0usize..2).prop_map(|(kernel, stride, padding)| Step::MaxPool {
            kernel,
            stride,
            padding
        }),
        (1usize..3, 1usize..3).prop_map(|(kernel, stride)| Step::AvgPool { kernel, stride }),
        Just(Step::BatchNorm),
        Just(Step::Dropout),
        (any::<bool>(), 1usize..5).prop_map(|(projection, channels)| Step::Residual {
            projection,
            channels
        }),
    ]
}

/// A random architecture: image steps, a flatten or global average-pool, then a small MLP
/// head, so every layer type appears in some draw.
#[derive(Debug, Clone)]
pub struct Architecture {
    pub input: FeatureShape,
    pub steps: Vec<Step>,
    pub global_pool: bool,
    pub head: Vec<(usize, ActivationKind)>,
    pub outputs: usize,
}

pub fn architecture() -> impl Strategy<Value = Architecture> {
    (
        (1usize..3, 5usize..9, 5usize..9),
        prop::collection::vec(step(), 0..6),
        any::<bool>(),
        prop::collection::vec((1usize..6, activation()), 0..3),
        1usize..5,
    )
        .prop_map(
            |((c, h, w), steps, global_pool, head, outputs)| Architecture {
                input: FeatureShape::new(c, h, w),
                steps,
                global_pool,
                head,
                outputs,
            },
        )
}

fn act(kind: ActivationKind) -> LayerConfig {
    match kind {
        ActivationKind::Relu => LayerConfig::Relu,
        ActivationKind::LeakyRelu { slope } => LayerConfig::LeakyRelu { slope },
        ActivationKind::Abs => LayerConfig::Abs,
    }
}

fn batch_norm() -> LayerConfig {
    // A large momentum moves the running statistics far from (0, 1) in two batches.
    LayerConfig::BatchNorm {
        epsilon: 1e-5,
        momentum: 0.7,
    }
}

impl Architecture {
    /// Builds the layer configuration. Steps whose window does not fit the current plane are
    /// skipped.
    pub fn config(&self) -> NetworkConfig {
        let mut layers = Vec::new();
        let mut shape = self.input;
        for step in &self.steps {
            let fits = |span: usize, padding: usize| {
                shape.height + 2 * padding >= span && shape.width + 2 * padding >= span
            };
            let layer = match *step {
                Step::Conv {
                    channels,
                    kernel,
                    stride,
                    padding,
                } if fits(kernel, padding) => Some(LayerConfig::Conv2d {
                    out_channels: channels,
                    kernel: [kernel; 2],
                    stride: [stride; 2],
                    padding: [padding; 2],
                    dilation: [1, 1],
                    bias: true,
                }),
                Step::Activation(kind) => Some(act(kind)),
                Step::MaxPool {
                    kernel,
                    stride,
                    padding,
                } if fits(kernel, padding) && 2 * padding <= kernel => {
                    Some(LayerConfig::MaxPool2d {
                        kernel: [kernel; 2],
                        stride: [stride; 2],
                        padding: [padding; 2],
                    })
                }
                Step::AvgPool { kernel, stride } if fits(kernel, 0) => {
                    Some(LayerConfig::avg_pool(kernel, stride))
                }
                Step::BatchNorm => Some(batch_norm()),
                Step::Dropout => Some(LayerConfig::Dropout { probability: 0.3 }),
                Step::Residual {
                    projection,
                    channels,
                } => {
                    let out = if projection { channels } else { shape.channels };
                    let conv = |c| LayerConfig::Conv2d {
                        out_channels: c,
                        kernel: [3, 3],
                        stride: [1, 1],
                        padding: [1, 1],
                        dilation: [1, 1],
                        bias: true,
                    };
                    let body = vec![conv(out), batch_norm(), LayerConfig::Relu, conv(out)];
                    let skip = if projection {
                        vec![LayerConfig::Conv2d {
                            out_channels: out,
                            kernel: [1, 1],
                            stride: [1, 1],
                            padding: [0, 0],
                            dilation: [1, 1],
                            bias: false,
                        }]
                    } else {
                        vec![]
                    };
                    Some(LayerConfig::Residual { body, skip })
                }
                _ => None,
            };
            if let Some(layer) = layer {
                let probe = NetworkConfig::new(shape, vec![layer.clone()])
                    .init(&Device::flex())
                    .expect("the generator only emits layers that fit");
                shape = maso::MasoLayer::output_shape(&probe.layers[0]);
                layers.push(layer);
            }
        }
        layers.push(if self.global_pool {
            LayerConfig::GlobalAvgPool
        } else {
            LayerConfig::Flatten
        });
        for &(width, kind) in &self.head {
            layers.push(LayerConfig::linear(width));
            layers.push(act(kind));
        }
        layers.push(LayerConfig::linear(self.outputs));
        NetworkConfig::new(self.input, layers)
    }
}

/// Builds the network and moves its batch-norm running statistics away from their initial
/// values with two training-mode passes.
pub fn build(config: &NetworkConfig, device: &Device) -> Network {
    let network = config.init(device).expect("valid configuration");
    for _ in 0..2 {
        let x = random_input(&network, 6, device);
        let _ = network.forward(x, Mode::Train);
    }
    network
}

pub fn random_input(network: &Network, batch: usize, device: &Device) -> Tensor<2> {
    Tensor::<2>::random(
        [batch, network.input_shape().numel()],
        Distribution::Normal(0.0, 1.0),
        device,
    )
}

/// Max over examples of `max_k |a - b| / max(1, max_k |b|)`.
pub fn max_relative_error(a: Tensor<2>, b: Tensor<2>) -> f64 {
    let scale = b.clone().abs().max_dim(1).clamp_min(1.0);
    let error = (a - b).abs().max_dim(1) / scale;
    error.max().into_scalar::<f64>()
}
