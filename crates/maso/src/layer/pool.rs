//! Pooling layers: max-pool, average-pool and global average-pool.

use super::conv::Window;
use super::{LayerConfig, MasoLayer, Mode, Piece, to_flat, to_image, wrong_piece};
use crate::{FeatureShape, MasoError, Result};
use burn::module::Module;
use burn::tensor::module::{avg_pool2d, conv_transpose2d, max_pool2d, max_pool2d_with_indices};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{IndexingUpdateOp, Int, Tensor};

fn pool_window(
    op: &str,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<Window> {
    for axis in 0..2 {
        if padding[axis] * 2 > kernel[axis] {
            return Err(MasoError::config(
                &format!("{op} padding"),
                format!("{padding:?}"),
                format!("padding may be at most half the kernel {kernel:?}, as in PyTorch"),
            ));
        }
    }
    Ok(Window {
        kernel,
        stride,
        padding,
        dilation: [1, 1],
    })
}

/// Max-pooling over `kernel` windows moved by `stride`, windows may overlap.
///
/// Each output unit is the max over its window, a MASO with one piece per window position.
/// The region code of a unit is the position of its window's argmax (ties go to the first
/// maximum in burn's scan order). Padding counts as negative infinity.
///
/// # Shapes
///
/// - input: `[batch, channels * height * width]`
/// - output: `[batch, channels * out_height * out_width]`
#[derive(Module, Debug)]
pub struct MaxPool2d {
    #[module(skip)]
    window: Window,
    #[module(skip)]
    input: FeatureShape,
    #[module(skip)]
    output: FeatureShape,
}

impl MaxPool2d {
    /// Creates the layer for inputs of shape `input`.
    pub fn new(
        input: FeatureShape,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Self> {
        let window = pool_window("max_pool2d", kernel, stride, padding)?;
        let [height, width] = window.validate("max_pool2d", input)?;
        Ok(Self {
            window,
            input,
            output: FeatureShape::new(input.channels, height, width),
        })
    }

    /// Kernel, stride and padding.
    pub fn window(&self) -> Window {
        self.window
    }

    fn options(&self) -> MaxPoolOptions<2> {
        MaxPoolOptions::new(self.window.kernel)
            .with_stride(self.window.stride)
            .with_padding(self.window.padding)
    }
}

impl MasoLayer for MaxPool2d {
    fn input_shape(&self) -> FeatureShape {
        self.input
    }

    fn output_shape(&self) -> FeatureShape {
        self.output
    }

    fn select_piece(&self, x: &Tensor<2>, _mode: Mode) -> Piece {
        let [batch, _] = x.dims();
        let image = to_image(x.clone().detach(), self.input);
        let (_, indices) = max_pool2d_with_indices(image, self.options());
        Piece::Argmax(indices.reshape([batch, self.output.channels, self.output.plane()]))
    }

    fn apply_piece(&self, x: Tensor<2>, piece: &Piece) -> Tensor<2> {
        let Piece::Argmax(indices) = piece else {
            wrong_piece("max_pool2d", piece)
        };
        let [batch, _] = x.dims();
        let planes = x.reshape([batch, self.input.channels, self.input.plane()]);
        planes
            .gather(2, indices.clone())
            .reshape([batch, self.output.numel()])
    }

    fn pullback(&self, cotangent: Tensor<2>, piece: &Piece, per_example: usize) -> Tensor<2> {
        let Piece::Argmax(indices) = piece else {
            wrong_piece("max_pool2d", piece)
        };
        let [rows, _] = cotangent.dims();
        let [batch, channels, positions] = indices.dims();
        let indices: Tensor<3, Int> = if per_example == 1 {
            indices.clone()
        } else {
            indices
                .clone()
                .unsqueeze_dim::<4>(1)
                .expand([batch, per_example, channels, positions])
                .reshape([rows, channels, positions])
        };
        let values = cotangent.reshape([rows, channels, positions]);
        // Overlapping windows can select the same input: scatter adds their cotangents.
        let zeros = Tensor::<3>::zeros([rows, channels, self.input.plane()], &values.device());
        zeros
            .scatter(2, indices, values, IndexingUpdateOp::Add)
            .reshape([rows, self.input.numel()])
    }

    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2> {
        to_flat(max_pool2d(to_image(x, self.input), self.options()))
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::MaxPool2d {
            kernel: self.window.kernel,
            stride: self.window.stride,
            padding: self.window.padding,
        }
    }
}

/// Average-pooling over `kernel` windows moved by `stride`. Padding counts as zeros in the
/// average (PyTorch's `count_include_pad=True`).
///
/// It is affine: a depthwise convolution with the constant kernel `1 / (kh kw)`, so its
/// pullback is the transposed convolution with that kernel.
///
/// # Shapes
///
/// - input: `[batch, channels * height * width]`
/// - output: `[batch, channels * out_height * out_width]`
#[derive(Module, Debug)]
pub struct AvgPool2d {
    #[module(skip)]
    window: Window,
    #[module(skip)]
    input: FeatureShape,
    #[module(skip)]
    output: FeatureShape,
}

impl AvgPool2d {
    /// Creates the layer for inputs of shape `input`.
    pub fn new(
        input: FeatureShape,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Self> {
        let window = pool_window("avg_pool2d", kernel, stride, padding)?;
        let [height, width] = window.validate("avg_pool2d", input)?;
        Ok(Self {
            window,
            input,
            output: FeatureShape::new(input.channels, height, width),
        })
    }

    fn options(&self) -> AvgPoolOptions<2> {
        AvgPoolOptions::new(self.window.kernel)
            .with_stride(self.window.stride)
            .with_padding(self.window.padding)
            .with_count_include_pad(true)
    }
}

impl MasoLayer for AvgPool2d {
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
        self.forward_reference(x)
    }

    fn pullback(&self, cotangent: Tensor<2>, _piece: &Piece, _per_example: usize) -> Tensor<2> {
        let [kh, kw] = self.window.kernel;
        let channels = self.input.channels;
        let kernel = Tensor::<4>::ones([channels, 1, kh, kw], &cotangent.device())
            .div_scalar((kh * kw) as f64);
        let options = self
            .window
            .transpose_options(self.input, self.output, channels);
        to_flat(conv_transpose2d(
            to_image(cotangent, self.output),
            kernel,
            None,
            options,
        ))
    }

    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2> {
        to_flat(avg_pool2d(to_image(x, self.input), self.options()))
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::AvgPool2d {
            kernel: self.window.kernel,
            stride: self.window.stride,
            padding: self.window.padding,
        }
    }
}

/// Mean over each channel's plane.
///
/// # Shapes
///
/// - input: `[batch, channels * height * width]`
/// - output: `[batch, channels]`
#[derive(Module, Debug)]
pub struct GlobalAvgPool {
    #[module(skip)]
    input: FeatureShape,
}

impl GlobalAvgPool {
    /// Creates the layer for inputs of shape `input`.
    pub fn new(input: FeatureShape) -> Self {
        Self { input }
    }
}

impl MasoLayer for GlobalAvgPool {
    fn input_shape(&self) -> FeatureShape {
        self.input
    }

    fn output_shape(&self) -> FeatureShape {
        FeatureShape::flat(self.input.channels)
    }

    fn select_piece(&self, _x: &Tensor<2>, _mode: Mode) -> Piece {
        Piece::Affine
    }

    fn apply_piece(&self, x: Tensor<2>, _piece: &Piece) -> Tensor<2> {
        self.forward_reference(x)
    }

    fn pullback(&self, cotangent: Tensor<2>, _piece: &Piece, _per_example: usize) -> Tensor<2> {
        let [rows, channels] = cotangent.dims();
        let plane = self.input.plane();
        cotangent
            .div_scalar(plane as f64)
            .unsqueeze_dim::<3>(2)
            .expand([rows, channels, plane])
            .reshape([rows, channels * plane])
    }

    fn forward_reference(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        x.reshape([batch, self.input.channels, self.input.plane()])
            .mean_dim(2)
            .reshape([batch, self.input.channels])
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::GlobalAvgPool
    }
}
