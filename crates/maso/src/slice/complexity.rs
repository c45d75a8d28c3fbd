//! Sampled local complexity: how many units change their piece near each data point.

use super::code::{LayerCode, codes_from_pieces, read_f64};
use crate::layer::Mode;
use crate::{MasoError, Network, Result};
use burn::tensor::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Local complexity of one top-level layer, over all data points.
#[derive(Debug, Clone, Serialize)]
pub struct LayerComplexity {
    /// Top-level layer index.
    pub layer: usize,
    /// Units with a piece in the layer (two-piece units plus max-pool windows).
    pub units: usize,
    /// Mean over data points of the expected number of units whose piece at a uniform random
    /// point of the ball differs from the piece at the data point.
    pub mean_changed: f64,
    /// Standard error of `mean_changed`: the standard deviation of the per-point means over
    /// `sqrt(points)`. It contains the spread between data points and the Monte Carlo error of
    /// the samples, and is 0 for a single point.
    pub standard_error: f64,
    /// Mean over data points of the number of units whose piece differs at one or more of the
    /// samples: a lower bound, which grows with the sample count, of the units whose region
    /// boundary crosses the ball.
    pub mean_changed_anywhere: f64,
}

/// Sampled local complexity of a network around a set of data points.
#[derive(Debug, Clone, Serialize)]
pub struct LocalComplexity {
    /// Radius of the balls, in input units (Euclidean norm over all input values).
    pub radius: f64,
    /// Samples per data point.
    pub samples: usize,
    pub points: usize,
    pub layers: Vec<LayerComplexity>,
}

/// Rows per forward pass.
const CHUNK: usize = 512;

/// Estimates, for every top-level layer, how many units change their piece within the
/// Euclidean ball of `radius` around each row of `points`, from `samples` uniform samples per
/// ball in the full input dimension.
///
/// # Shapes
///
/// - `points`: `[N, input features]`
///
/// # Errors
///
/// When `points` is empty or does not match the network's input, `samples` is 0, `radius` is
/// not positive, or values cannot be read back.
pub fn local_complexity(
    network: &Network,
    points: Tensor<2>,
    radius: f64,
    samples: usize,
    seed: u64,
) -> Result<LocalComplexity> {
    network.check_input(&points)?;
    if samples == 0 {
        return Err(MasoError::config(
            "local complexity samples",
            0,
            "must be at least 1",
        ));
    }
    if !(radius.is_finite() && radius > 0.0) {
        return Err(MasoError::config(
            "local complexity radius",
            radius,
            "must be finite and positive",
        ));
    }
    let [count, dimension] = points.dims();
    let device = points.device();
    let centers = read_f64(points)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let depth = network.depth();
    let mut changed = vec![vec![0.0f64; count]; depth];
    let mut anywhere = vec![vec![0.0f64; count]; depth];
    let mut units = vec![0usize; depth];
    for index in 0..count {
        let center = &centers[index * dimension..(index + 1) * dimension];
        let mut batch = Vec::with_capacity((samples + 1) * dimension);
        batch.extend_from_slice(center);
        for _ in 0..samples {
            batch.extend(sample_ball(center, radius, &mut rng));
        }
        let codes = forward_codes(network, batch, samples + 1, dimension, &device)?;
        let (center_codes, sample_codes) = codes.split_first().expect("the center is first");
        for layer in 0..depth {
            let reference = &center_codes[layer];
            units[layer] = reference.units();
            let mut union = LayerCode {
                signs: vec![0; reference.signs.len()],
                sign_units: reference.sign_units,
                argmax: vec![0; reference.argmax.len()],
            };
            let mut total = 0usize;
            for sample in sample_codes {
                let code = &sample[layer];
                total += code.differing_units(reference);
                for ((word, a), b) in union
                    .signs
                    .iter_mut()
                    .zip(&code.signs)
                    .zip(&reference.signs)
                {
                    *word |= a ^ b;
                }
                for ((flag, a), b) in union
                    .argmax
                    .iter_mut()
                    .zip(&code.argmax)
                    .zip(&reference.argmax)
                {
                    *flag |= u32::from(a != b);
                }
            }
            changed[layer][index] = total as f64 / samples as f64;
            let signs: u32 = union.signs.iter().map(|word| word.count_ones()).sum();
            let argmax: u32 = union.argmax.iter().sum();
            anywhere[layer][index] = (signs + argmax) as f64;
        }
    }
    let layers = (0..depth)
        .map(|layer| {
            let (mean, standard_error) = mean_and_error(&changed[layer]);
            LayerComplexity {
                layer,
                units: units[layer],
                mean_changed: mean,
                standard_error,
                mean_changed_anywhere: mean_and_error(&anywhere[layer]).0,
            }
        })
        .collect();
    Ok(LocalComplexity {
        radius,
        samples,
        points: count,
        layers,
    })
}

fn forward_codes(
    network: &Network,
    batch: Vec<f64>,
    rows: usize,
    dimension: usize,
    device: &burn::tensor::Device,
) -> Result<Vec<Vec<LayerCode>>> {
    let mut codes = Vec::with_capacity(rows);
    for chunk in batch.chunks(CHUNK * dimension) {
        let chunk_rows = chunk.len() / dimension;
        let x = Tensor::<2>::from_data(
            TensorData::new(chunk.to_vec(), [chunk_rows, dimension]),
            device,
        );
        let (_, pieces) = network.forward_pieces(x, Mode::Eval, network.depth());
        codes.extend(codes_from_pieces(&pieces, chunk_rows)?);
    }
    Ok(codes)
}

/// Draws a point uniformly from the ball of `radius` around `center`: a Gaussian direction
/// and a radius `radius * U^(1/d)`.
fn sample_ball(center: &[f64], radius: f64, rng: &mut StdRng) -> Vec<f64> {
    let direction: Vec<f64> = (0..center.len()).map(|_| standard_normal(rng)).collect();
    let norm = direction
        .iter()
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    let scale = radius * rng.random::<f64>().powf(1.0 / center.len() as f64) / norm;
    center
        .iter()
        .zip(direction)
        .map(|(c, d)| c + scale * d)
        .collect()
}

/// Box-Muller transform of two uniform draws.
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn mean_and_error(values: &[f64]) -> (f64, f64) {
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1.0);
    (mean, (variance / count).sqrt())
}
