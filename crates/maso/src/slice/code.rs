//! Region codes of one top-level layer, as the slice partition and the local complexity
//! compare them.

use crate::layer::Piece;
use crate::{MasoError, Result};
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

/// Slopes at or above this value select the positive piece: the positive piece's slope is 1
/// and every negative piece's slope is below 1 (0 for ReLU, the leak for leaky ReLU, -1 for
/// the absolute value).
const POSITIVE_SLOPE: f64 = 1.0 - 1e-6;

/// The region code of one top-level layer for one input.
///
/// `signs` contains one bit per unit of every two-piece activation (1 where the unit's input is
/// positive), `argmax` the flat argmax position in its input plane of every max-pool window.
/// Inside a residual block the body's layers come first, then the skip path's, each in order.
/// Affine layers contribute nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LayerCode {
    /// Sign bits, packed 64 per word, unit `i` at bit `i % 64` of word `i / 64`.
    pub signs: Vec<u64>,
    /// Number of sign bits.
    pub sign_units: usize,
    /// Argmax position per max-pool window.
    pub argmax: Vec<u32>,
}

impl LayerCode {
    /// Appends the sign bit of one unit.
    #[inline]
    pub fn push_sign(&mut self, positive: bool) {
        let bit = self.sign_units % 64;
        if bit == 0 {
            self.signs.push(0);
        }
        if positive {
            *self.signs.last_mut().expect("a word was pushed above") |= 1 << bit;
        }
        self.sign_units += 1;
    }

    /// Returns the sign bit of unit `unit`.
    pub fn sign(&self, unit: usize) -> bool {
        self.signs[unit / 64] >> (unit % 64) & 1 == 1
    }

    /// Number of units (two-piece units and max-pool windows) whose piece differs.
    ///
    /// Codes of different layers or networks are not comparable; `other` must come from the
    /// same layer.
    pub fn differing_units(&self, other: &LayerCode) -> usize {
        let signs: u32 = self
            .signs
            .iter()
            .zip(&other.signs)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        let argmax = self
            .argmax
            .iter()
            .zip(&other.argmax)
            .filter(|(a, b)| a != b)
            .count();
        signs as usize + argmax
    }

    /// Number of units with a piece: two-piece units plus max-pool windows.
    pub fn units(&self) -> usize {
        self.sign_units + self.argmax.len()
    }
}

/// Returns the codes `[example][layer]` of the pieces that a forward pass selected for a batch
/// of `batch` examples.
///
/// # Errors
///
/// When a piece's values cannot be read back from the device.
pub fn codes_from_pieces(pieces: &[Piece], batch: usize) -> Result<Vec<Vec<LayerCode>>> {
    let mut codes = vec![Vec::with_capacity(pieces.len()); batch];
    for piece in pieces {
        let mut layer = vec![LayerCode::default(); batch];
        append_piece(piece, &mut layer)?;
        for (example, code) in codes.iter_mut().zip(layer) {
            example.push(code);
        }
    }
    Ok(codes)
}

fn append_piece(piece: &Piece, codes: &mut [LayerCode]) -> Result<()> {
    match piece {
        Piece::Slopes(slopes) => {
            let [batch, features] = slopes.dims();
            let values = read_f64(slopes.clone())?;
            for (n, code) in codes.iter_mut().enumerate().take(batch) {
                for &slope in &values[n * features..(n + 1) * features] {
                    code.push_sign(slope >= POSITIVE_SLOPE);
                }
            }
        }
        Piece::Argmax(indices) => {
            let [batch, channels, positions] = indices.dims();
            let values = read_i64(indices.clone())?;
            let per_example = channels * positions;
            for (n, code) in codes.iter_mut().enumerate().take(batch) {
                code.argmax.extend(
                    values[n * per_example..(n + 1) * per_example]
                        .iter()
                        .map(|&index| index as u32),
                );
            }
        }
        Piece::Residual { body, skip } => {
            for inner in body.iter().chain(skip) {
                append_piece(inner, codes)?;
            }
        }
        Piece::Affine | Piece::Normalize { .. } | Piece::Mask(_) => {}
    }
    Ok(())
}

pub(crate) fn read_f64<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f64>> {
    tensor
        .into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .map_err(|error| MasoError::Readback {
            detail: format!("{error:?}"),
        })
}

fn read_i64(tensor: Tensor<3, Int>) -> Result<Vec<i64>> {
    tensor
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|error| MasoError::Readback {
            detail: format!("{error:?}"),
        })
}
