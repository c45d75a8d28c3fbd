//! The input-conditioned affine map `f(x) = A[x] x + b[x]` of a network or of a prefix of it.

use crate::layer::{MasoLayer, Mode};
use crate::{MasoError, Network, Result};
use burn::tensor::{Device, Int, Tensor};

/// Options of [`affine_map`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AffineOptions {
    /// Number of leading layers whose output is the map's output; `None` means the whole
    /// network (the logits).
    pub depth: Option<usize>,
    /// Memory budget in bytes for one chunk of pullbacks. A batch whose `batch * outputs`
    /// cotangents would exceed it is processed in chunks of examples. Default 1 GiB.
    pub max_chunk_bytes: usize,
}

impl Default for AffineOptions {
    fn default() -> Self {
        Self {
            depth: None,
            max_chunk_bytes: 1 << 30,
        }
    }
}

/// `A[x]` and `b[x]` for a batch of inputs.
#[derive(Debug, Clone)]
pub struct AffineMap {
    /// `A[x]`, `[batch, outputs, input features]`. For logits, row `c` of example `n` is the
    /// template of class `c` at `x_n`.
    pub slopes: Tensor<3>,
    /// `b[x]`, `[batch, outputs]`, computed independently of `slopes` by applying the selected
    /// pieces to the zero input.
    pub offsets: Tensor<2>,
}

impl AffineMap {
    /// Evaluates `A[x] z + b[x]` for one `z` per example (`[batch, input features]`).
    pub fn evaluate(&self, z: Tensor<2>) -> Tensor<2> {
        self.linear_part(z) + self.offsets.clone()
    }

    /// Evaluates `A[x] z` for one `z` per example: with `z = x`, the bias-free matched-filter
    /// scores `<A_c[x], x>`.
    pub fn linear_part(&self, z: Tensor<2>) -> Tensor<2> {
        let [batch, outputs, _] = self.slopes.dims();
        self.slopes
            .clone()
            .matmul(z.unsqueeze_dim::<3>(2))
            .reshape([batch, outputs])
    }
}

/// Computes `A[x]` and `b[x]` of the network's first `options.depth` layers (all by default)
/// for the batch `x` (`[batch, input features]`), in eval mode.
///
/// `A[x]` is assembled from one pullback per output unit, batched: the identity cotangents of
/// all examples travel back through the layers together, so the cost is about `outputs`
/// forward passes. `b[x]` is the selected pieces applied to zero, so `A[x] x + b[x]` equals
/// the forward pass only if the pieces and pullbacks are exact.
///
/// # Errors
///
/// When `x` has the wrong shape, is empty or contains non-finite values, or when the depth is
/// out of range.
///
/// # Example
///
/// ```
/// use burn::tensor::{Device, Int, Tensor};
/// use maso::{affine_map, AffineOptions, FeatureShape, LayerConfig, NetworkConfig};
///
/// let device = Device::flex();
/// let network = NetworkConfig::new(
///     FeatureShape::flat(4),
///     vec![LayerConfig::linear(8), LayerConfig::Relu, LayerConfig::linear(3)],
/// )
/// .init(&device)?;
/// let x = Tensor::<2>::random([5, 4], burn::tensor::Distribution::Default, &device);
///
/// let map = affine_map(&network, x.clone(), AffineOptions::default())?;
/// assert_eq!(map.slopes.dims(), [5, 3, 4]);
///
/// let logits = network.forward_reference(x.clone(), network.depth());
/// let error = (map.evaluate(x) - logits).abs().max().into_scalar::<f32>();
/// assert!(error < 1e-5);
/// # Ok::<(), maso::MasoError>(())
/// ```
pub fn affine_map(network: &Network, x: Tensor<2>, options: AffineOptions) -> Result<AffineMap> {
    network.check_input(&x)?;
    let depth = options.depth.unwrap_or(network.depth());
    network.check_depth(depth)?;

    let [batch, _] = x.dims();
    let outputs = network.layers[depth - 1].output_shape().numel();
    let rows = rows_per_pass(network, &x, options.max_chunk_bytes)?;
    // Whole examples per pass where they fit, else part of one example's outputs per pass.
    let examples = (rows / outputs).clamp(1, batch);
    let output_rows = rows.min(outputs);

    let mut slopes = Vec::new();
    let mut offsets = Vec::new();
    for start in (0..batch).step_by(examples) {
        let length = examples.min(batch - start);
        let part = x.clone().narrow(0, start, length);
        let map = affine_map_unchecked(network, part, depth, output_rows);
        slopes.push(map.slopes);
        offsets.push(map.offsets);
    }
    Ok(AffineMap {
        slopes: Tensor::cat(slopes, 0),
        offsets: Tensor::cat(offsets, 0),
    })
}

/// [`affine_map`] on a batch that [`Network::check_input`] accepted, pulling back at most
/// `output_rows` outputs of every example per pass.
pub(crate) fn affine_map_unchecked(
    network: &Network,
    x: Tensor<2>,
    depth: usize,
    output_rows: usize,
) -> AffineMap {
    let [batch, features] = x.dims();
    let device = x.device();
    let (_, pieces) = network.forward_pieces(x.clone().detach(), Mode::Eval, depth);
    let outputs = network.layers[depth - 1].output_shape().numel();

    let mut parts = Vec::new();
    for first in (0..outputs).step_by(output_rows.max(1)) {
        let count = output_rows.min(outputs - first);
        let cotangent = identity_cotangents(batch, outputs, &device, first, count);
        let part = network
            .pullback(cotangent, &pieces, count)
            .reshape([batch, count, features]);
        parts.push(part);
    }
    let slopes = Tensor::cat(parts, 1);

    let zeros = Tensor::<2>::zeros([batch, features], &device);
    let offsets = network.apply_pieces(zeros, &pieces);
    AffineMap { slopes, offsets }
}

/// Rows `first .. first + count` of the `outputs x outputs` identity, stacked for each of
/// `batch` examples: `[batch * count, outputs]`.
pub(crate) fn identity_cotangents(
    batch: usize,
    outputs: usize,
    device: &Device,
    first: usize,
    count: usize,
) -> Tensor<2> {
    if outputs == 1 {
        // burn's one_hot needs at least two classes.
        return Tensor::<2>::ones([batch * count, 1], device);
    }
    // One-hot rows rather than a slice of `eye(outputs)`, whose outputs^2 entries would not
    // fit in memory for wide layers.
    Tensor::<1, Int>::arange(first as i64..(first + count) as i64, device)
        .one_hot::<2>(outputs)
        .float()
        .unsqueeze_dim::<3>(0)
        .expand([batch, count, outputs])
        .reshape([batch * count, outputs])
}

/// Number of cotangent rows (examples times outputs) that one pullback pass may hold.
fn rows_per_pass(network: &Network, x: &Tensor<2>, budget: usize) -> Result<usize> {
    if budget == 0 {
        return Err(MasoError::config(
            "max_chunk_bytes",
            budget,
            "the memory budget must be positive",
        ));
    }
    let element = x.dtype().size();
    // A pullback stores the cotangent and the layer's result, plus temporaries of the same
    // size inside burn's ops: budget three activations of the widest layer per cotangent row.
    // NOTE: this is an estimate; a convolution's im2col buffer can exceed it.
    let per_row = 3 * network.max_width() * element;
    Ok((budget / per_row.max(1)).max(1))
}
