//! A chain of MASO layers.

use crate::layer::{Layer, LayerConfig, MasoLayer, Mode, Piece};
use crate::{FeatureShape, MasoError, Result};
use burn::module::{Module, ModuleMapper, Param, RunningState};
use burn::tensor::{Device, FloatDType, Tensor};
use serde::{Deserialize, Serialize};

/// Architecture of a [`Network`]: the shape of one input and the layers, in order.
///
/// ```
/// use maso::{FeatureShape, LayerConfig, NetworkConfig};
///
/// let config = NetworkConfig::new(
///     FeatureShape::flat(2),
///     vec![LayerConfig::linear(3), LayerConfig::Relu, LayerConfig::linear(2)],
/// );
/// let network = config.init(&burn::tensor::Device::flex()).unwrap();
/// assert_eq!(network.output_shape(), FeatureShape::flat(2));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    pub input: FeatureShape,
    pub layers: Vec<LayerConfig>,
}

impl NetworkConfig {
    /// Creates the configuration.
    pub fn new(input: FeatureShape, layers: Vec<LayerConfig>) -> Self {
        Self { input, layers }
    }

    /// Builds the network with random weights on `device`.
    ///
    /// # Errors
    ///
    /// When the network has no layers, the input shape is empty, or a layer's parameters do
    /// not fit the shape of its input.
    pub fn init(&self, device: &Device) -> Result<Network> {
        if self.layers.is_empty() {
            return Err(MasoError::Empty {
                what: "the network's layer list".into(),
            });
        }
        if self.input.numel() == 0 {
            return Err(MasoError::config(
                "input shape",
                self.input,
                "every dimension must be at least 1",
            ));
        }
        let (layers, _) = crate::layer::build_chain(&self.layers, self.input, device)?;
        Ok(Network {
            layers,
            input: self.input,
        })
    }
}

/// A network of MASO layers: for each input `x` it is the affine map `A[x] x + b[x]` of the
/// region that contains `x`.
///
/// Inputs are flat `[batch, channels * height * width]` tensors.
#[derive(Module, Debug)]
pub struct Network {
    pub layers: Vec<Layer>,
    #[module(skip)]
    input: FeatureShape,
}

impl Network {
    /// Shape of one input.
    pub fn input_shape(&self) -> FeatureShape {
        self.input
    }

    /// Shape of one output (the logits for a classifier).
    pub fn output_shape(&self) -> FeatureShape {
        self.layers
            .last()
            .map(MasoLayer::output_shape)
            .unwrap_or(self.input)
    }

    /// Number of layers at the top level (a residual block counts as one).
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Returns the device of the network's parameters; the flex CPU device for a network
    /// without parameters.
    pub fn device(&self) -> Device {
        self.devices().first().cloned().unwrap_or_else(Device::flex)
    }

    /// Returns the architecture, for checkpoints.
    pub fn config(&self) -> NetworkConfig {
        NetworkConfig::new(
            self.input,
            self.layers.iter().map(MasoLayer::config).collect(),
        )
    }

    /// Checks that `x` is a non-empty `[batch, input features]` batch of finite values.
    ///
    /// burn panics on shape mismatches, so call this on external data before any other method.
    pub fn check_input(&self, x: &Tensor<2>) -> Result<()> {
        let [batch, features] = x.dims();
        if batch == 0 {
            return Err(MasoError::Empty {
                what: "the input batch".into(),
            });
        }
        if features != self.input.numel() {
            return Err(MasoError::shape(
                "network input",
                format!(
                    "[batch, {}] (one {} input per row)",
                    self.input.numel(),
                    self.input
                ),
                format!("[{batch}, {features}]"),
            ));
        }
        let non_finite = x
            .clone()
            .is_finite()
            .bool_not()
            .int()
            .sum()
            .into_scalar::<i64>();
        if non_finite > 0 {
            return Err(MasoError::NonFinite {
                what: "the input batch".into(),
                count: non_finite as usize,
            });
        }
        Ok(())
    }

    /// Checks that `depth` names a prefix of the network (1 up to [`Network::depth`]).
    pub fn check_depth(&self, depth: usize) -> Result<()> {
        if depth == 0 || depth > self.depth() {
            return Err(MasoError::config(
                "layer depth",
                depth,
                format!(
                    "must be between 1 and {}, the number of top-level layers (see `layers` in the checkpoint's model.json)",
                    self.depth()
                ),
            ));
        }
        Ok(())
    }

    /// Runs the network through its selected pieces: the output that training differentiates.
    pub fn forward(&self, x: Tensor<2>, mode: Mode) -> Tensor<2> {
        self.forward_pieces(x, mode, self.depth()).0
    }

    /// Runs the first `depth` layers and returns their output and the pieces each selected.
    ///
    /// # Panics
    ///
    /// If `depth` exceeds [`Network::depth`].
    pub fn forward_pieces(
        &self,
        x: Tensor<2>,
        mode: Mode,
        depth: usize,
    ) -> (Tensor<2>, Vec<Piece>) {
        let mut pieces = Vec::with_capacity(depth);
        let mut x = x;
        for layer in &self.layers[..depth] {
            let (y, piece) = layer.forward_piece(x, mode);
            x = y;
            pieces.push(piece);
        }
        (x, pieces)
    }

    /// Evaluates the first `depth` layers in eval mode with burn's own layer ops, without
    /// region codes: an independent reference for the spline view.
    pub fn forward_reference(&self, x: Tensor<2>, depth: usize) -> Tensor<2> {
        self.layers[..depth]
            .iter()
            .fold(x, |x, layer| layer.forward_reference(x))
    }

    /// Applies the affine pieces `pieces` of the first `pieces.len()` layers to `z`.
    ///
    /// With `z` equal to the input that selected the pieces this is the network's output; with
    /// `z = 0` it is the offset `b[x]`.
    pub fn apply_pieces(&self, z: Tensor<2>, pieces: &[Piece]) -> Tensor<2> {
        self.layers
            .iter()
            .zip(pieces)
            .fold(z, |z, (layer, piece)| layer.apply_piece(z, piece))
    }

    /// Pulls cotangents back through the first `pieces.len()` layers: `A[x]^T g`.
    ///
    /// `cotangent` is `[batch * per_example, output features of layer pieces.len()]`, row
    /// `n * per_example + j` being the `j`-th cotangent of example `n`.
    pub fn pullback(
        &self,
        cotangent: Tensor<2>,
        pieces: &[Piece],
        per_example: usize,
    ) -> Tensor<2> {
        self.layers[..pieces.len()]
            .iter()
            .zip(pieces)
            .rev()
            .fold(cotangent, |g, (layer, piece)| {
                layer.pullback(g, piece, per_example)
            })
    }

    /// Converts every float parameter and batch-norm running statistic to `dtype`.
    ///
    /// A checkpoint stored in f32 loads as f32 tensors even on a device configured for f64;
    /// converting to f64 is exact, and lets f64 inputs run through the network.
    pub fn cast_float(self, dtype: FloatDType) -> Self {
        let mut network = self.map(&mut CastFloat(dtype));
        cast_running_statistics(&mut network.layers, dtype);
        network
    }

    /// Returns a network with this input shape and no layers.
    pub(crate) fn without_layers(&self) -> Network {
        Network {
            layers: Vec::new(),
            input: self.input,
        }
    }

    /// Largest number of features of any activation, inside residual blocks too; sizes the
    /// memory of a batch of pullbacks.
    pub fn max_width(&self) -> usize {
        fn widest(layers: &[Layer]) -> usize {
            layers
                .iter()
                .map(|layer| {
                    let inner = match layer {
                        Layer::Residual(block) => widest(&block.body).max(widest(&block.skip)),
                        _ => 0,
                    };
                    inner
                        .max(layer.input_shape().numel())
                        .max(layer.output_shape().numel())
                })
                .max()
                .unwrap_or(0)
        }
        widest(&self.layers).max(self.input.numel())
    }
}

/// Casts float parameters to one float type.
struct CastFloat(FloatDType);

impl ModuleMapper for CastFloat {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| tensor.cast(dtype))
    }
}

/// Casts the running statistics of batch norm, which are not parameters, inside residual
/// blocks too.
fn cast_running_statistics(layers: &mut [Layer], dtype: FloatDType) {
    for layer in layers {
        match layer {
            Layer::BatchNorm(norm) => {
                norm.running_mean = RunningState::new(norm.running_mean.value().cast(dtype));
                norm.running_var = RunningState::new(norm.running_var.value().cast(dtype));
            }
            Layer::Residual(block) => {
                cast_running_statistics(&mut block.body, dtype);
                cast_running_statistics(&mut block.skip, dtype);
            }
            _ => {}
        }
    }
}
