//! Architectures of the spline-theory experiments: MLP, SmallCNN, LargeCNN and ResNet.
//!
//! Each builds a [`NetworkConfig`] for any number of classes and for inputs of at least 28x28
//! pixels: 1-channel 28x28 MNIST-like and 3-channel 32x32 CIFAR-like inputs are the usual
//! ones. The ResNet also needs a height and width divisible by 4, because both stride-2 stages
//! must halve the plane exactly for the skip and body paths to agree.

use crate::layer::{ActivationKind, LayerConfig};
use crate::{FeatureShape, MasoError, NetworkConfig, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A named architecture and its hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Architecture {
    /// Fully connected layers of the given widths, each followed by `activation`, then a
    /// linear layer to the classes.
    Mlp {
        widths: Vec<usize>,
        activation: ActivationKind,
    },
    /// Three convolutions without padding (32 channels 3x3, 64 channels 3x3 and 128 channels
    /// 1x1), each followed by batch norm, ReLU and 2x2 max-pooling. Global average-pooling and
    /// a linear layer to the classes without bias end the network.
    SmallCnn,
    /// Three stages of 3x3 convolutions, each with batch norm and ReLU and followed by 2x2
    /// max-pooling. Stage 1 has three convolutions of 96 channels ("same", "full", "full"
    /// padding) and stage 2 three of 192 ("same", "full", "same"). Stage 3 is a "valid"
    /// convolution of 192 channels and a 1x1 convolution of 192 channels with ReLU but no batch
    /// norm. A flatten and a linear layer to the classes end the network.
    LargeCnn,
    /// A stem conv 3x3 with batch norm and ReLU, then three stages of widths `width`,
    /// `2 width` and `4 width` with `blocks` residual blocks
    /// `x + BN(conv3(ReLU(BN(conv3(x)))))` each (no ReLU after the addition). Each later stage
    /// begins with a stride-2 block whose skip path is 2x2 average-pooling then a 1x1
    /// convolution. Global average-pooling and a linear layer end the network.
    ResNet { blocks: usize, width: usize },
}

impl Architecture {
    /// Creates the MLP with the given hidden widths and ReLU.
    pub fn mlp(widths: Vec<usize>) -> Self {
        Self::Mlp {
            widths,
            activation: ActivationKind::Relu,
        }
    }

    /// Builds the network configuration for inputs of shape `input` and `classes` outputs.
    ///
    /// # Errors
    ///
    /// When `classes` is zero, an MLP has a zero width, a ResNet has no blocks or zero width,
    /// or the input plane is too small for the convolutional architectures (at least 28x28).
    pub fn config(&self, input: FeatureShape, classes: usize) -> Result<NetworkConfig> {
        if classes == 0 {
            return Err(MasoError::config("classes", classes, "must be at least 1"));
        }
        let needs_plane = !matches!(self, Self::Mlp { .. });
        if needs_plane && (input.height < 28 || input.width < 28) {
            return Err(MasoError::shape(
                &self.to_string(),
                "an input plane of at least 28x28",
                input,
            ));
        }
        if matches!(self, Self::ResNet { .. }) && (input.height % 4 != 0 || input.width % 4 != 0) {
            return Err(MasoError::shape(
                &self.to_string(),
                "an input height and width divisible by 4",
                input,
            ));
        }
        let layers = match self {
            Self::Mlp { widths, activation } => mlp(widths, *activation, classes)?,
            Self::SmallCnn => small_cnn(classes),
            Self::LargeCnn => large_cnn(classes),
            Self::ResNet { blocks, width } => resnet(*blocks, *width, classes)?,
        };
        Ok(NetworkConfig::new(input, layers))
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mlp { widths, .. } => {
                let widths: Vec<String> = widths.iter().map(usize::to_string).collect();
                write!(f, "mlp({})", widths.join(","))
            }
            Self::SmallCnn => write!(f, "small-cnn"),
            Self::LargeCnn => write!(f, "large-cnn"),
            Self::ResNet { blocks, width } => write!(f, "resnet(blocks {blocks}, width {width})"),
        }
    }
}

/// Architecture names accepted by [`FromStr`], with default hyperparameters.
pub const ARCHITECTURE_NAMES: &[&str] = &["mlp", "small-cnn", "large-cnn", "resnet"];

impl FromStr for Architecture {
    type Err = MasoError;

    /// Parses `mlp` (widths 256, 256), `small-cnn`, `large-cnn` or `resnet` (1 block per
    /// stage, width 32).
    fn from_str(name: &str) -> Result<Self> {
        match name {
            "mlp" => Ok(Self::mlp(vec![256, 256])),
            "small-cnn" => Ok(Self::SmallCnn),
            "large-cnn" => Ok(Self::LargeCnn),
            "resnet" => Ok(Self::ResNet {
                blocks: 1,
                width: 32,
            }),
            other => Err(MasoError::Unknown {
                kind: "architecture".into(),
                name: other.into(),
                known: ARCHITECTURE_NAMES.join(", "),
            }),
        }
    }
}

fn activation_layer(kind: ActivationKind) -> LayerConfig {
    match kind {
        ActivationKind::Relu => LayerConfig::Relu,
        ActivationKind::LeakyRelu { slope } => LayerConfig::LeakyRelu { slope },
        ActivationKind::Abs => LayerConfig::Abs,
    }
}

fn mlp(widths: &[usize], activation: ActivationKind, classes: usize) -> Result<Vec<LayerConfig>> {
    if let Some(position) = widths.iter().position(|&width| width == 0) {
        return Err(MasoError::config(
            "mlp width",
            format!("{widths:?}"),
            format!("hidden layer {position} has no units; every hidden layer needs at least one"),
        ));
    }
    let mut layers = vec![LayerConfig::Flatten];
    for &width in widths {
        layers.push(LayerConfig::linear(width));
        layers.push(activation_layer(activation));
    }
    layers.push(LayerConfig::linear(classes));
    Ok(layers)
}

fn conv(out_channels: usize, kernel: usize, padding: usize) -> LayerConfig {
    LayerConfig::Conv2d {
        out_channels,
        kernel: [kernel; 2],
        stride: [1, 1],
        padding: [padding; 2],
        dilation: [1, 1],
        bias: true,
    }
}

fn conv_bn_relu(layers: &mut Vec<LayerConfig>, out_channels: usize, kernel: usize, padding: usize) {
    layers.push(conv(out_channels, kernel, padding));
    layers.push(LayerConfig::batch_norm());
    layers.push(LayerConfig::Relu);
}

fn small_cnn(classes: usize) -> Vec<LayerConfig> {
    let mut layers = Vec::new();
    for (channels, kernel) in [(32, 3), (64, 3), (128, 1)] {
        conv_bn_relu(&mut layers, channels, kernel, 0);
        layers.push(LayerConfig::max_pool(2, 2));
    }
    layers.push(LayerConfig::GlobalAvgPool);
    layers.push(LayerConfig::Linear {
        out_features: classes,
        bias: false,
    });
    layers
}

fn large_cnn(classes: usize) -> Vec<LayerConfig> {
    // "same" keeps the plane (padding 1), "full" grows it by 2 (padding 2).
    let (same, full) = (1, 2);
    let mut layers = Vec::new();
    for padding in [same, full, full] {
        conv_bn_relu(&mut layers, 96, 3, padding);
    }
    layers.push(LayerConfig::max_pool(2, 2));
    for padding in [same, full, same] {
        conv_bn_relu(&mut layers, 192, 3, padding);
    }
    layers.push(LayerConfig::max_pool(2, 2));
    conv_bn_relu(&mut layers, 192, 3, 0);
    layers.push(conv(192, 1, 0));
    layers.push(LayerConfig::Relu);
    layers.push(LayerConfig::max_pool(2, 2));
    layers.push(LayerConfig::Flatten);
    layers.push(LayerConfig::linear(classes));
    layers
}

fn residual_body(width: usize, stride: usize) -> Vec<LayerConfig> {
    vec![
        LayerConfig::Conv2d {
            out_channels: width,
            kernel: [3, 3],
            stride: [stride; 2],
            padding: [1, 1],
            dilation: [1, 1],
            bias: true,
        },
        LayerConfig::batch_norm(),
        LayerConfig::Relu,
        conv(width, 3, 1),
        LayerConfig::batch_norm(),
    ]
}

fn resnet(blocks: usize, width: usize, classes: usize) -> Result<Vec<LayerConfig>> {
    if blocks == 0 || width == 0 {
        return Err(MasoError::config(
            "resnet blocks and width",
            format!("{blocks} and {width}"),
            "both must be at least 1",
        ));
    }
    let mut layers = Vec::new();
    conv_bn_relu(&mut layers, width, 3, 1);
    for stage in 0..3 {
        let stage_width = width << stage;
        for block in 0..blocks {
            let downsample = stage > 0 && block == 0;
            let (body, skip) = if downsample {
                let projection = LayerConfig::Conv2d {
                    out_channels: stage_width,
                    kernel: [1, 1],
                    stride: [1, 1],
                    padding: [0, 0],
                    dilation: [1, 1],
                    bias: false,
                };
                (
                    residual_body(stage_width, 2),
                    vec![LayerConfig::avg_pool(2, 2), projection],
                )
            } else {
                (residual_body(stage_width, 1), vec![])
            };
            layers.push(LayerConfig::Residual { body, skip });
        }
    }
    layers.push(LayerConfig::GlobalAvgPool);
    layers.push(LayerConfig::linear(classes));
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MasoLayer;
    use burn::tensor::Device;

    fn output(arch: &Architecture, input: FeatureShape) -> FeatureShape {
        arch.config(input, 10)
            .unwrap()
            .init(&Device::flex())
            .unwrap()
            .output_shape()
    }

    #[test]
    fn architectures_build_for_mnist_and_cifar_shapes() {
        let shapes = [FeatureShape::new(1, 28, 28), FeatureShape::new(3, 32, 32)];
        for name in ARCHITECTURE_NAMES {
            let arch: Architecture = name.parse().unwrap();
            for shape in shapes {
                assert_eq!(
                    output(&arch, shape),
                    FeatureShape::flat(10),
                    "{name} on {shape}"
                );
            }
        }
    }

    #[test]
    fn small_cnn_planes_match_the_paper() {
        let network = Architecture::SmallCnn
            .config(FeatureShape::new(1, 28, 28), 10)
            .unwrap()
            .init(&Device::flex())
            .unwrap();
        let pooled: Vec<FeatureShape> = network
            .layers
            .iter()
            .filter(|layer| layer.kind() == "max-pool2d")
            .map(MasoLayer::output_shape)
            .collect();
        assert_eq!(
            pooled,
            [
                FeatureShape::new(32, 13, 13),
                FeatureShape::new(64, 5, 5),
                FeatureShape::new(128, 2, 2)
            ]
        );
    }

    #[test]
    fn resnet_downsamples_twice() {
        let network = Architecture::ResNet {
            blocks: 2,
            width: 8,
        }
        .config(FeatureShape::new(1, 28, 28), 10)
        .unwrap()
        .init(&Device::flex())
        .unwrap();
        let global_pool_input = network.layers[network.depth() - 2].input_shape();
        assert_eq!(global_pool_input, FeatureShape::new(32, 7, 7));
    }

    #[test]
    fn unknown_architecture_lists_known_names() {
        let error = "vgg".parse::<Architecture>().unwrap_err().to_string();
        assert!(error.contains("vgg"), "{error}");
        assert!(error.contains("small-cnn"), "{error}");
    }

    #[test]
    fn convolutional_architecture_rejects_small_plane() {
        let error = Architecture::SmallCnn.config(FeatureShape::new(1, 8, 8), 10);
        assert!(matches!(error, Err(MasoError::Shape { .. })));
    }
}
