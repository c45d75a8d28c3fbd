//! Residual block `y = skip(x) + body(x)`.

use super::{Layer, LayerConfig, MasoLayer, Mode, Piece, wrong_piece};
use crate::{FeatureShape, MasoError, Result};
use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// Residual block `y = skip(x) + body(x)`, where `body` and `skip` are chains of layers and an
/// empty `skip` is the identity.
///
/// Conditioned on the pieces of both chains the block is affine, with slope
/// `A_skip + A_body`, so it is a MASO composite and its pullback is the sum of the two chains'
/// pullbacks.
///
/// # Shapes
///
/// - input: `[batch, input features]`
/// - output: `[batch, output features]`, the same for both paths
#[derive(Module, Debug)]
pub struct Residual {
    pub body: Vec<Layer>,
    pub skip: Vec<Layer>,
    #[module(skip)]
    input: FeatureShape,
    #[module(skip)]
    output: FeatureShape,
}

pub(crate) fn build_chain(
    configs: &[LayerConfig],
    input: FeatureShape,
    device: &Device,
) -> Result<(Vec<Layer>, FeatureShape)> {
    let mut shape = input;
    let mut layers = Vec::with_capacity(configs.len());
    for config in configs {
        let layer = config.init(shape, device)?;
        shape = layer.output_shape();
        layers.push(layer);
    }
    Ok((layers, shape))
}

fn chain_forward(layers: &[Layer], x: Tensor<2>, mode: Mode) -> (Tensor<2>, Vec<Piece>) {
    let mut pieces = Vec::with_capacity(layers.len());
    let mut x = x;
    for layer in layers {
        let (y, piece) = layer.forward_piece(x, mode);
        x = y;
        pieces.push(piece);
    }
    (x, pieces)
}

fn chain_apply(layers: &[Layer], x: Tensor<2>, pieces: &[Piece]) -> Tensor<2> {
    layers
        .iter()
        .zip(pieces)
        .fold(x, |x, (layer, piece)| layer.apply_piece(x, piece))
}

fn chain_pullback(
    layers: &[Layer],
    g: Tensor<2>,
    pieces: &[Piece],
    per_example: usize,
) -> Tensor<2> {
    layers
        .iter()
        .zip(pieces)
        .rev()
        .fold(g, |g, (layer, piece)| layer.pullback(g, piece, per_example))
}

impl Residual {
    /// Creates the block for inputs of shape `input`; both paths must end in the same shape.
    pub fn new(
        input: FeatureShape,
        body: &[LayerConfig],
        skip: &[LayerConfig],
        device: &Device,
    ) -> Result<Self> {
        let (body, body_shape) = build_chain(body, input, device)?;
        let (skip, skip_shape) = build_chain(skip, input, device)?;
        if body_shape != skip_shape {
            return Err(MasoError::shape(
                "residual block",
                format!("body output equal to skip output {skip_shape}"),
                format!("body output {body_shape}"),
            ));
        }
        Ok(Self {
            body,
            skip,
            input,
            output: body_shape,
        })
    }
}

impl MasoLayer for Residual {
    fn input_shape(&self) -> FeatureShape {
        self.input
    }

    fn output_shape(&self) -> FeatureShape {
        self.output
    }

    fn select_piece(&self, x: &Tensor<2>, mode: Mode) -> Piece {
        self.forward_piece(x.clone(), mode).1
    }

    fn forward_piece(&self, x: Tensor<2>, mode: Mode) -> (Tensor<2>, Piece) {
        let (body_out, body) = chain_forward(&self.body, x.clone(), mode);
        let (skip_out, skip) = chain_forward(&self.skip, x, mode);
        (body_out + skip_out, Piece::Residual { body, skip })
    }

    fn apply_piece(&self, x: Tensor<2>, piece: &Piece) -> Tensor<2> {
        let Piece::Residual { body, skip } = piece else {
            wrong_piece("residual", piece)
        };
        chain_apply(&self.body, x.clone(), body) + chain_apply(&self.skip, x, skip)
    }

    fn pullback(&self, cotangent: Tensor<2>, piece: &Piece, per_example: usize) -> Tensor<2> {
        let Piece::Residual { body, skip } = piece else {
            wrong_piece("residual", piece)
        };
        chain_pullback(&self.body, cotangent.clone(), body, per_example)
            + chain_pullback(&self.skip, cotangent, skip, per_example)
    }

    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2> {
        let body = self
            .body
            .iter()
            .fold(x.clone(), |x, layer| layer.forward_reference(x));
        let skip = self
            .skip
            .iter()
            .fold(x, |x, layer| layer.forward_reference(x));
        body + skip
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::Residual {
            body: self.body.iter().map(MasoLayer::config).collect(),
            skip: self.skip.iter().map(MasoLayer::config).collect(),
        }
    }
}
