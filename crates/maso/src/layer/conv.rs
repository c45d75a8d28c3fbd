//! Two-dimensional convolution.

use super::{LayerConfig, MasoLayer, Mode, Piece, to_flat, to_image};
use crate::{FeatureShape, MasoError, Result};
use burn::module::{Initializer, Module, Param};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Geometry of a convolution or pooling window along height and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
}

impl Window {
    /// Output height and width for an input plane of `height x width`, or `None` when the
    /// window does not fit, an entry is zero or the arithmetic overflows.
    pub fn output_size(&self, height: usize, width: usize) -> Option<[usize; 2]> {
        let size = |input: usize, axis: usize| {
            let kernel = self.kernel[axis].checked_sub(1)?;
            let span = self.dilation[axis].checked_mul(kernel)?.checked_add(1)?;
            let padded = self.padding[axis].checked_mul(2)?.checked_add(input)?;
            let stride = self.stride[axis];
            (stride > 0 && padded >= span).then(|| (padded - span) / stride + 1)
        };
        Some([size(height, 0)?, size(width, 1)?])
    }

    pub(crate) fn validate(&self, op: &str, input: FeatureShape) -> Result<[usize; 2]> {
        for (name, values) in [
            ("kernel", self.kernel),
            ("stride", self.stride),
            ("dilation", self.dilation),
        ] {
            if values.contains(&0) {
                return Err(MasoError::config(
                    &format!("{op} {name}"),
                    format!("{values:?}"),
                    "every entry must be at least 1",
                ));
            }
        }
        self.output_size(input.height, input.width).ok_or_else(|| {
            MasoError::shape(
                op,
                format!(
                    "a plane of at least the window span ({:?} with dilation {:?}, padding {:?})",
                    self.kernel, self.dilation, self.padding
                ),
                input,
            )
        })
    }

    /// Options of the transposed convolution that is this window's adjoint: it maps an
    /// `output` plane back to exactly the `input` plane.
    pub(crate) fn transpose_options(
        &self,
        input: FeatureShape,
        output: FeatureShape,
        groups: usize,
    ) -> ConvTransposeOptions<2> {
        ConvTransposeOptions::new(
            self.stride,
            self.padding,
            self.transpose_padding(input, output),
            self.dilation,
            groups,
        )
    }

    /// Output padding that makes the transposed convolution return exactly `input`'s plane.
    pub(crate) fn transpose_padding(
        &self,
        input: FeatureShape,
        output: FeatureShape,
    ) -> [usize; 2] {
        let extra = |input: usize, output: usize, axis: usize| {
            let covered = (output - 1) * self.stride[axis]
                + self.dilation[axis] * (self.kernel[axis] - 1)
                + 1;
            input + 2 * self.padding[axis] - covered
        };
        [
            extra(input.height, output.height, 0),
            extra(input.width, output.width, 1),
        ]
    }
}

/// Two-dimensional convolution (cross-correlation, as in PyTorch), groups 1.
///
/// The kernel has shape `[out_channels, in_channels, kernel_h, kernel_w]` and is initialized
/// uniformly in `[-1/sqrt(fan_in), 1/sqrt(fan_in)]` like PyTorch's.
///
/// # Shapes
///
/// - input: `[batch, in_channels * height * width]`
/// - output: `[batch, out_channels * out_height * out_width]` with
///   `out = (in + 2 padding - dilation (kernel - 1) - 1) / stride + 1`
#[derive(Module, Debug)]
pub struct Conv2d {
    pub weight: Param<Tensor<4>>,
    pub bias: Option<Param<Tensor<1>>>,
    #[module(skip)]
    window: Window,
    #[module(skip)]
    input: FeatureShape,
    #[module(skip)]
    output: FeatureShape,
}

impl Conv2d {
    /// Creates a randomly initialized convolution for inputs of shape `input`.
    pub fn new(
        input: FeatureShape,
        out_channels: usize,
        window: Window,
        bias: bool,
        device: &Device,
    ) -> Result<Self> {
        if out_channels == 0 || input.channels == 0 {
            return Err(MasoError::config(
                "conv2d out_channels",
                out_channels,
                format!(
                    "input and output channels must be at least 1 (input has {})",
                    input.channels
                ),
            ));
        }
        let [height, width] = window.validate("conv2d", input)?;
        let fan_in = input.channels * window.kernel[0] * window.kernel[1];
        let bound = 1.0 / (fan_in as f64).sqrt();
        let init = Initializer::Uniform {
            min: -bound,
            max: bound,
        };
        let [kh, kw] = window.kernel;
        Ok(Self {
            weight: init.init([out_channels, input.channels, kh, kw], device),
            bias: bias.then(|| init.init([out_channels], device)),
            window,
            input,
            output: FeatureShape::new(out_channels, height, width),
        })
    }

    /// Kernel size, stride, padding and dilation.
    pub fn window(&self) -> Window {
        self.window
    }

    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new(
            self.window.stride,
            self.window.padding,
            self.window.dilation,
            1,
        )
    }

    fn affine(&self, x: Tensor<2>) -> Tensor<2> {
        let bias = self.bias.as_ref().map(|bias| bias.val());
        to_flat(conv2d(
            to_image(x, self.input),
            self.weight.val(),
            bias,
            self.options(),
        ))
    }
}

impl MasoLayer for Conv2d {
    fn input_shape(&self) -> FeatureShape {
        self.input
    }

    fn output_shape(&self) -> FeatureShape {
        self.output
    }

    fn select_piece(&self, _x: &Tensor<2>, _mode: Mode) -> Piece {
        Piece::Affine
    }

    fn apply_piece(&self, x: Tensor<2>, _piece: &Piece) -> Tensor<2> {
        self.affine(x)
    }

    fn pullback(&self, cotangent: Tensor<2>, _piece: &Piece, _per_example: usize) -> Tensor<2> {
        let options = self.window.transpose_options(self.input, self.output, 1);
        to_flat(conv_transpose2d(
            to_image(cotangent, self.output),
            self.weight.val(),
            None,
            options,
        ))
    }

    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2> {
        self.affine(x)
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::Conv2d {
            out_channels: self.output.channels,
            kernel: self.window.kernel,
            stride: self.window.stride,
            padding: self.window.padding,
            dilation: self.window.dilation,
            bias: self.bias.is_some(),
        }
    }
}
