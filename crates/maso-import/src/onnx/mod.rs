//! Import of ONNX graphs exported from PyTorch.
//!
//! [`import_onnx`] maps a graph of the ops in [`ops::SUPPORTED_OPS`] onto the library's layers.
//! The graph must be a chain from its single input to its single output. A value may fork into
//! two paths that meet again at an `Add`, which becomes a residual block. Weights must be constants
//! (initializers or `Constant` nodes) stored inside the file, in float32 or float64.

mod convert;
mod graph;
pub mod ops;

use crate::weights::{LayerWeights, assign_weights};
use crate::{ImportError, Result};
use burn::tensor::Device;
use convert::{Converter, ValueShape};
use graph::Graph;
use maso::{FeatureShape, Network, NetworkConfig};
use onnx_protobuf::{Message, ModelProto, ValueInfoProto};
use std::path::{Path, PathBuf};

/// A model converted into the library's configuration and weights.
#[derive(Debug, Clone)]
pub struct ImportedModel {
    pub config: NetworkConfig,
    /// One entry per layer of `config`.
    pub weights: Vec<LayerWeights>,
    /// Changes made during import, such as a dropped trailing softmax.
    pub notices: Vec<String>,
}

impl ImportedModel {
    /// Builds the network on `device` and loads the imported weights into it.
    ///
    /// # Errors
    ///
    /// When the configuration is invalid for the library's layers.
    pub fn network(&self, device: &Device) -> Result<Network> {
        let mut network = self.config.init(device)?;
        assign_weights(&mut network, &self.weights)?;
        Ok(network)
    }
}

/// Reads the ONNX model at `path` and converts it.
///
/// `input_shape` is the shape of one example (`C x H x W`, or `features x 1 x 1` for a flat
/// input). It is needed when the model's input dimensions other than the batch are symbolic,
/// and it must agree with the model where they are fixed.
///
/// # Errors
///
/// - [`ImportError::UnsupportedOp`] for an op without a MASO layer.
/// - [`ImportError::NotPiecewiseAffine`] for nonlinearities such as tanh inside the network.
/// - [`ImportError::InputShape`] when the input shape is missing or conflicts with the model's.
/// - The other variants of [`ImportError`] for unreadable files and unsupported attributes.
pub fn import_onnx(path: &Path, input_shape: Option<FeatureShape>) -> Result<ImportedModel> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let model = ModelProto::parse_from_bytes(&bytes).map_err(|error| ImportError::Parse {
        path: path.to_path_buf(),
        detail: format!("not a valid ONNX protobuf file: {error}"),
    })?;
    let graph_proto = model.graph.as_ref().ok_or_else(|| ImportError::Parse {
        path: path.to_path_buf(),
        detail: "the model has no graph".into(),
    })?;
    let model_dir = path.parent().unwrap_or(Path::new("."));
    let graph = Graph::new(graph_proto, model_dir)?;
    let graph_error = |detail: String| ImportError::Graph {
        path: path.to_path_buf(),
        detail,
    };

    // Before IR version 4, initializers were also listed as graph inputs.
    let inputs: Vec<&ValueInfoProto> = graph_proto
        .input
        .iter()
        .filter(|input| !graph.is_constant(&input.name))
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(graph_error(format!(
            "the graph has {} inputs; only models with a single input tensor are supported",
            inputs.len()
        )));
    };
    let [output] = graph_proto.output.as_slice() else {
        return Err(graph_error(format!(
            "the graph has {} outputs; only models with a single output (the logits) are \
             supported",
            graph_proto.output.len()
        )));
    };

    let shape = resolve_input_shape(path, input, input_shape)?;
    let mut converter = Converter::new(&graph, output.name.clone());
    let chain = converter.convert(&input.name, shape)?;
    if chain.configs.is_empty() {
        return Err(graph_error("the graph contains no layers".into()));
    }
    Ok(ImportedModel {
        config: NetworkConfig::new(shape.features, chain.configs),
        weights: chain.weights,
        notices: converter.notices,
    })
}

/// Combines the model's declared input dimensions with the user's `input_shape`.
fn resolve_input_shape(
    path: &Path,
    input: &ValueInfoProto,
    requested: Option<FeatureShape>,
) -> Result<ValueShape> {
    let error = |detail: String| ImportError::InputShape {
        path: PathBuf::from(path),
        detail,
    };
    let dims: Vec<Option<usize>> = input
        .type_
        .as_ref()
        .filter(|kind| kind.has_tensor_type())
        .map(|kind| {
            kind.tensor_type()
                .shape
                .dim
                .iter()
                .map(|dim| {
                    (dim.has_dim_value() && dim.dim_value() > 0).then(|| dim.dim_value() as usize)
                })
                .collect()
        })
        .unwrap_or_default();
    let show = |dims: &[Option<usize>]| {
        dims.iter()
            .map(|dim| dim.map_or("?".to_string(), |size| size.to_string()))
            .collect::<Vec<_>>()
            .join(" x ")
    };

    let declared = match dims.len() {
        // [N, features] or [N, C, H, W]; the batch dimension may be anything.
        2 => Some([dims[1], Some(1), Some(1)]),
        4 => Some([dims[1], dims[2], dims[3]]),
        0 => None,
        rank => {
            return Err(error(format!(
                "the input `{}` has rank {rank} ({}); only [N, features] and [N, C, H, W] \
                 inputs are supported",
                input.name,
                show(&dims)
            )));
        }
    };
    let flat = dims.len() == 2;
    match (declared, requested) {
        (Some([Some(c), Some(h), Some(w)]), None) => {
            Ok(value_shape(FeatureShape::new(c, h, w), flat))
        }
        (Some(declared), Some(requested)) => {
            // A flat [N, features] input only fixes the number of features.
            let conflict = if flat {
                declared[0].is_some_and(|features| features != requested.numel())
            } else {
                let wanted = [requested.channels, requested.height, requested.width];
                declared
                    .iter()
                    .zip(wanted)
                    .any(|(declared, wanted)| declared.is_some_and(|size| size != wanted))
            };
            if conflict {
                return Err(error(format!(
                    "the model declares one example as {} but the requested input shape is \
                     {requested}; pass a matching --input-shape or omit it",
                    show(&dims[1..])
                )));
            }
            // A model that takes flattened inputs keeps the requested image shape, so that it
            // runs on image data sets. Its first layer receives the same flat features.
            Ok(value_shape(requested, flat))
        }
        (None, Some(requested)) => Ok(value_shape(requested, requested.plane() == 1)),
        (_, None) => Err(error(format!(
            "the input `{}` has symbolic dimensions ({}); pass the shape of one example, \
             for example --input-shape 1x28x28 or --input-shape 784",
            input.name,
            if dims.is_empty() {
                "unknown".to_string()
            } else {
                show(&dims)
            }
        ))),
    }
}

fn value_shape(features: FeatureShape, flat: bool) -> ValueShape {
    ValueShape { features, flat }
}
