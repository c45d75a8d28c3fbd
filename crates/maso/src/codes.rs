//! Region codes: which affine piece every unit of every piecewise layer selected, bit-packed.
//!
//! A two-piece activation (ReLU, leaky ReLU, absolute value) contributes one bit per unit: 1
//! where its input is positive. A max-pool layer contributes, per window, the position of the
//! argmax inside the window, in `bits` bits where `bits` is `ceil(log2(window size))` rounded up
//! to 1, 2, 4 or 8 so that no code straddles two 64-bit words. Affine layers select no piece
//! and contribute nothing. Layers inside residual blocks contribute under names such as
//! `3.body.2`.
//!
//! Each example's code is `words_per_example` little-endian `u64` words; layer `l` occupies
//! words `word_offset .. word_offset + words`, with unit `u` at bit `(u * bits) % 64` of word
//! `(u * bits) / 64`.

use crate::layer::{ActivationKind, Layer, Piece, Window};
use crate::{MasoError, MasoLayer, Network, Result};
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

/// Kind of information in a layer's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CodeKind {
    /// One bit per unit: whether the unit's input is positive.
    Sign,
    /// Per max-pool window: the argmax position in the window (row-major, 0 ..
    /// `window_size`).
    Argmax { window_size: usize },
}

/// Position and size of one piecewise layer's codes in an example's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeLayer {
    /// Position in the network: the top-level index, then `body`/`skip` and the index inside
    /// a residual block.
    pub name: String,
    pub kind: CodeKind,
    /// Units (two-piece layers) or windows (max-pool).
    pub units: usize,
    /// Bits per unit: 1, 2, 4 or 8.
    pub bits: usize,
    pub word_offset: usize,
    pub words: usize,
}

/// The layout of a network's region codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeLayout {
    pub layers: Vec<CodeLayer>,
    pub words_per_example: usize,
}

/// A piecewise layer found by walking the network, with its name.
struct Found<'a> {
    name: String,
    layer: &'a Layer,
}

fn walk<'a>(layers: &'a [Layer], prefix: &str, found: &mut Vec<Found<'a>>) {
    for (index, layer) in layers.iter().enumerate() {
        let name = if prefix.is_empty() {
            index.to_string()
        } else {
            format!("{prefix}.{index}")
        };
        match layer {
            Layer::Activation(_) | Layer::MaxPool2d(_) => found.push(Found { name, layer }),
            Layer::Residual(block) => {
                walk(&block.body, &format!("{name}.body"), found);
                walk(&block.skip, &format!("{name}.skip"), found);
            }
            _ => {}
        }
    }
}

/// Collects the pieces of `walk`'s layers, in the same order.
fn walk_pieces<'a>(layers: &[Layer], pieces: &'a [Piece], found: &mut Vec<&'a Piece>) {
    for (layer, piece) in layers.iter().zip(pieces) {
        match (layer, piece) {
            (Layer::Activation(_) | Layer::MaxPool2d(_), piece) => found.push(piece),
            (Layer::Residual(block), Piece::Residual { body, skip }) => {
                walk_pieces(&block.body, body, found);
                walk_pieces(&block.skip, skip, found);
            }
            _ => {}
        }
    }
}

fn bits_for(window_size: usize) -> usize {
    let needed = usize::BITS - (window_size.max(2) - 1).leading_zeros();
    (needed as usize).next_power_of_two()
}

impl CodeLayout {
    /// Computes the layout of `network`'s codes.
    ///
    /// # Errors
    ///
    /// When a max-pool window has more than 256 positions (more than 8 bits per code).
    pub fn of(network: &Network) -> Result<Self> {
        let mut found = Vec::new();
        walk(&network.layers, "", &mut found);
        let mut layers = Vec::with_capacity(found.len());
        let mut offset = 0;
        for Found { name, layer } in found {
            let (kind, units) = match layer {
                Layer::MaxPool2d(pool) => {
                    let [kh, kw] = pool.window().kernel;
                    let windows = pool.output_shape().numel();
                    (
                        CodeKind::Argmax {
                            window_size: kh * kw,
                        },
                        windows,
                    )
                }
                _ => (CodeKind::Sign, layer.output_shape().numel()),
            };
            let bits = match kind {
                CodeKind::Sign => 1,
                CodeKind::Argmax { window_size } => bits_for(window_size),
            };
            if bits > 8 {
                return Err(MasoError::config(
                    &format!("max-pool window of layer {name}"),
                    format!("{kind:?}"),
                    "region codes support windows of at most 256 positions",
                ));
            }
            let words = (units * bits).div_ceil(64);
            layers.push(CodeLayer {
                name,
                kind,
                units,
                bits,
                word_offset: offset,
                words,
            });
            offset += words;
        }
        Ok(Self {
            layers,
            words_per_example: offset,
        })
    }

    /// Total code bits per example (without padding to whole words).
    pub fn bits_per_example(&self) -> usize {
        self.layers.iter().map(|l| l.units * l.bits).sum()
    }

    /// Index of the layer called `name`.
    pub fn find(&self, name: &str) -> Result<usize> {
        self.layers
            .iter()
            .position(|layer| layer.name == name)
            .ok_or_else(|| MasoError::Unknown {
                kind: "code layer".into(),
                name: name.into(),
                known: self
                    .layers
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

fn set_bits(words: &mut [u64], unit: usize, bits: usize, value: u64) {
    let position = unit * bits;
    words[position / 64] |= value << (position % 64);
}

/// Packs the region codes of a batch from the pieces its forward pass selected (all layers of
/// `network`), `[batch * layout.words_per_example]` words.
///
/// # Panics
///
/// If `pieces` does not come from `network`.
pub fn pack_codes(
    network: &Network,
    layout: &CodeLayout,
    pieces: &[Piece],
    batch: usize,
) -> Vec<u64> {
    let mut found = Vec::new();
    walk(&network.layers, "", &mut found);
    let mut layer_pieces = Vec::new();
    walk_pieces(&network.layers, pieces, &mut layer_pieces);
    assert_eq!(
        found.len(),
        layout.layers.len(),
        "the layout belongs to another network"
    );
    assert_eq!(
        found.len(),
        layer_pieces.len(),
        "the pieces belong to another network"
    );

    let stride = layout.words_per_example;
    let mut codes = vec![0u64; batch * stride];
    for ((entry, spec), piece) in found.iter().zip(&layout.layers).zip(layer_pieces) {
        match (entry.layer, piece) {
            (Layer::Activation(activation), Piece::Slopes(slopes)) => {
                // Slopes are 1 on the positive side and the negative slope elsewhere.
                let low = match activation.kind() {
                    ActivationKind::Relu => 0.0,
                    ActivationKind::LeakyRelu { slope } => slope,
                    ActivationKind::Abs => -1.0,
                };
                let threshold = ((1.0 + low) / 2.0) as f32;
                let values = to_f32(slopes.clone());
                for n in 0..batch {
                    let words = &mut codes[n * stride + spec.word_offset..][..spec.words];
                    for (unit, &slope) in values[n * spec.units..(n + 1) * spec.units]
                        .iter()
                        .enumerate()
                    {
                        if slope > threshold {
                            set_bits(words, unit, 1, 1);
                        }
                    }
                }
            }
            (Layer::MaxPool2d(pool), Piece::Argmax(indices)) => {
                let input = pool.input_shape();
                let output = pool.output_shape();
                let window = pool.window();
                let values = to_i64(indices.clone());
                for n in 0..batch {
                    let words = &mut codes[n * stride + spec.word_offset..][..spec.words];
                    for (unit, &flat) in values[n * spec.units..(n + 1) * spec.units]
                        .iter()
                        .enumerate()
                    {
                        let position = unit % output.plane();
                        let relative = window_position(
                            window,
                            input.width,
                            output.width,
                            position,
                            flat as usize,
                        );
                        set_bits(words, unit, spec.bits, relative as u64);
                    }
                }
            }
            _ => panic!(
                "layer {} received a piece of another layer type",
                entry.name
            ),
        }
    }
    codes
}

/// Row-major position inside its window of the input index `flat` (in the `height * width`
/// plane) selected by output position `position`.
fn window_position(
    window: Window,
    input_width: usize,
    output_width: usize,
    position: usize,
    flat: usize,
) -> usize {
    let (out_row, out_col) = (position / output_width, position % output_width);
    let (row, col) = (flat / input_width, flat % input_width);
    let top = (out_row * window.stride[0]) as isize - window.padding[0] as isize;
    let left = (out_col * window.stride[1]) as isize - window.padding[1] as isize;
    let dy = (row as isize - top).max(0) as usize;
    let dx = (col as isize - left).max(0) as usize;
    dy * window.kernel[1] + dx
}

fn to_f32(tensor: Tensor<2>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

fn to_i64(tensor: Tensor<3, Int>) -> Vec<i64> {
    tensor
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .unwrap_or_default()
}

/// Number of codes of `bits` bits (1, 2, 4 or 8) that differ between the words `a` and `b`.
#[inline(always)]
pub fn differing_units(bits: usize, a: &[u64], b: &[u64]) -> u32 {
    // Fold each code's bits into its lowest bit, then count the lowest bits.
    let low_bits = match bits {
        1 => u64::MAX,
        2 => 0x5555_5555_5555_5555,
        4 => 0x1111_1111_1111_1111,
        _ => 0x0101_0101_0101_0101,
    };
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let mut diff = x ^ y;
            let mut shift = 1;
            while shift < bits {
                diff |= diff >> shift;
                shift *= 2;
            }
            (diff & low_bits).count_ones()
        })
        .sum()
}

/// Computes the normalized Hamming distance of one layer: the fraction of units (or max-pool windows)
/// whose codes differ, in `[0, 1]`. `a` and `b` are whole examples' words.
pub fn layer_distance(layer: &CodeLayer, a: &[u64], b: &[u64]) -> f64 {
    let range = layer.word_offset..layer.word_offset + layer.words;
    differing_units(layer.bits, &a[range.clone()], &b[range]) as f64 / layer.units.max(1) as f64
}

/// Finds the first layer, in network order, whose codes differ between two examples: the level of
/// the partition hierarchy at which they separate. `None` when all codes agree.
pub fn first_differing_layer(layout: &CodeLayout, a: &[u64], b: &[u64]) -> Option<usize> {
    layout
        .layers
        .iter()
        .position(|layer| layer_distance(layer, a, b) > 0.0)
}

/// Weighted sum of per-layer distances over `weights` (`(layer index, weight)` pairs).
pub fn combined_distance(
    layout: &CodeLayout,
    weights: &[(usize, f64)],
    a: &[u64],
    b: &[u64],
) -> f64 {
    weights
        .iter()
        .map(|&(layer, weight)| weight * layer_distance(&layout.layers[layer], a, b))
        .sum()
}
