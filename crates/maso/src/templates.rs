//! Class templates, the matched-filter view of a classifier and the exactness check.

use crate::data::{Normalization, check_dataset, images_tensor};
use crate::{AffineOptions, MasoError, Network, Result};
use burn::tensor::Tensor;
use maso_data::Dataset;
use serde::{Deserialize, Serialize};

/// `A[x]`, `b[x]` and the forward pass for chosen examples of a data set, as host arrays.
#[derive(Debug, Clone)]
pub struct Templates {
    /// Indices of the examples in the data set.
    pub indices: Vec<usize>,
    /// Number of outputs `K` of the analysed layer (classes, for the logits).
    pub outputs: usize,
    /// Input features `D`.
    pub features: usize,
    /// Normalized inputs, `[N, D]`.
    pub inputs: Vec<f32>,
    /// `A[x]`, `[N, K, D]`: for logits, the class templates.
    pub slopes: Vec<f32>,
    /// `b[x]`, `[N, K]`.
    pub offsets: Vec<f32>,
    /// The forward pass `f(x)`, `[N, K]`, from burn's own layer ops.
    pub outputs_reference: Vec<f32>,
    /// The matched-filter scores `<A_k[x], x> + b_k[x]`, `[N, K]`.
    pub scores: Vec<f32>,
    /// The bias-free scores `<A_k[x], x>`, `[N, K]`.
    pub scores_bias_free: Vec<f32>,
}

/// Agreement of the matched-filter view with the forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TemplateSummary {
    pub examples_checked: usize,
    /// Max over examples of `max_k |A_k[x] x + b_k[x] - f_k(x)| / max(1, max_k |f_k(x)|)`.
    pub max_relative_residual: f64,
    /// Fraction of examples where `argmax_k <A_k[x], x> + b_k[x]` is the network's prediction.
    pub matched_filter_agreement: f64,
    /// Fraction of examples where `argmax_k <A_k[x], x>` is the network's prediction.
    pub bias_free_agreement: f64,
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (k, &v)| {
            if v > best.1 { (k, v) } else { best }
        })
        .0
}

fn to_vec<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|error| MasoError::Readback {
            detail: format!("{error:?}"),
        })
}

impl Templates {
    /// Computes `A[x]` and `b[x]` of the network's first `options.depth` layers for the
    /// examples `indices` of `data`, `batch_size` examples per pass.
    ///
    /// # Errors
    ///
    /// When an index is out of range, the data do not fit the network, the depth is out of
    /// range or an input is not finite.
    pub fn compute(
        network: &Network,
        data: &Dataset,
        indices: &[usize],
        normalization: Normalization,
        options: AffineOptions,
        batch_size: usize,
    ) -> Result<Self> {
        check_dataset(data, network.input_shape(), network.output_shape().numel())?;
        if indices.is_empty() {
            return Err(MasoError::Empty {
                what: "the list of examples".into(),
            });
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= data.len()) {
            return Err(MasoError::config(
                "example index",
                bad,
                format!("data set `{}` has {} examples", data.name, data.len()),
            ));
        }
        let depth = options.depth.unwrap_or(network.depth());
        network.check_depth(depth)?;
        let device = network.device();
        let features = network.input_shape().numel();
        let outputs = crate::MasoLayer::output_shape(&network.layers[depth - 1]).numel();

        let mut result = Self {
            indices: indices.to_vec(),
            outputs,
            features,
            inputs: Vec::new(),
            slopes: Vec::new(),
            offsets: Vec::new(),
            outputs_reference: Vec::new(),
            scores: Vec::new(),
            scores_bias_free: Vec::new(),
        };
        for chunk in indices.chunks(batch_size.max(1)) {
            let x = images_tensor(data, chunk, normalization, &device);
            let map = crate::affine_map(
                network,
                x.clone(),
                AffineOptions {
                    depth: Some(depth),
                    ..options
                },
            )?;
            let reference = network.forward_reference(x.clone(), depth);
            let bias_free = map.linear_part(x.clone());
            let scores = bias_free.clone() + map.offsets.clone();
            result.scores.extend(to_vec(scores)?);
            result.scores_bias_free.extend(to_vec(bias_free)?);
            result.outputs_reference.extend(to_vec(reference)?);
            result.offsets.extend(to_vec(map.offsets)?);
            result.slopes.extend(to_vec(map.slopes)?);
            result.inputs.extend(to_vec(x)?);
        }
        Ok(result)
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Returns whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Returns the network's prediction (argmax of the forward pass) for each example.
    pub fn predictions(&self) -> Vec<usize> {
        self.outputs_reference
            .chunks(self.outputs)
            .map(argmax)
            .collect()
    }

    /// Compares `A[x] x + b[x]` and both matched-filter rules with the forward pass.
    pub fn summary(&self) -> TemplateSummary {
        let k = self.outputs;
        let predictions = self.predictions();
        let mut max_residual = 0.0f64;
        let (mut matched, mut bias_free) = (0usize, 0usize);
        for (n, &predicted) in predictions.iter().enumerate() {
            let rows = n * k..(n + 1) * k;
            let reference = &self.outputs_reference[rows.clone()];
            let scores = &self.scores[rows.clone()];
            let scale = reference.iter().fold(1.0f64, |m, &v| m.max(v.abs() as f64));
            let residual = scores
                .iter()
                .zip(reference)
                .fold(0.0f64, |m, (&s, &r)| m.max((s as f64 - r as f64).abs()));
            max_residual = max_residual.max(residual / scale);
            matched += usize::from(argmax(scores) == predicted);
            bias_free += usize::from(argmax(&self.scores_bias_free[rows]) == predicted);
        }
        let count = self.len().max(1) as f64;
        TemplateSummary {
            examples_checked: self.len(),
            max_relative_residual: max_residual,
            matched_filter_agreement: matched as f64 / count,
            bias_free_agreement: bias_free as f64 / count,
        }
    }
}
