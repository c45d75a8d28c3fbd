//! PyTorch `state_dict`s saved as safetensors.
//!
//! The parameter names are those of the `nn.Sequential` that `python/maso_pytorch.py` builds
//! from a network configuration:
//!
//! - layer `i` of a chain is child `i` of its `nn.Sequential`, except that a global average
//!   pool takes two children (`AdaptiveAvgPool2d(1)` and `Flatten`), so the layers after it
//!   are numbered one higher;
//! - a residual block's body is its child `residual` and its skip path its child `skip`, each
//!   numbered by the same rule;
//! - a fully connected or convolution layer stores `weight` (PyTorch's layout) and `bias`, a
//!   batch norm `weight`, `bias`, `running_mean` and `running_var` (its
//!   `num_batches_tracked` is accepted and ignored).
//!
//! For the SmallCNN, for example, the first convolution is `0.weight` and `0.bias`, its batch
//! norm `1.weight`, `1.bias`, `1.running_mean` and `1.running_var`, and the last linear
//! layer, after the global average pool at children 12 and 13, is `14.weight`.

use crate::weights::{HostTensor, LayerWeights, assign_weights};
use crate::{ImportError, Result};
use maso::{Layer, Network};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeSet;
use std::path::Path;

/// The name and shape of one tensor that a network's state_dict must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchName {
    pub name: String,
    pub shape: Vec<usize>,
}

/// Lists the state_dict names and shapes of `network`'s parameters, in layer order, each with
/// `prefix` in front (for example `"model."` or `"module."`, or `""`).
pub fn torch_names(network: &Network, prefix: &str) -> Vec<TorchName> {
    let mut names = Vec::new();
    chain_names(&network.layers, prefix, &mut names);
    names
}

fn chain_names(layers: &[Layer], prefix: &str, names: &mut Vec<TorchName>) {
    let mut child = 0;
    for layer in layers {
        let module = format!("{prefix}{child}.");
        let mut add = |suffix: &str, shape: Vec<usize>| {
            names.push(TorchName {
                name: format!("{module}{suffix}"),
                shape,
            })
        };
        match layer {
            Layer::Linear(linear) => {
                add("weight", linear.weight.dims().to_vec());
                if let Some(bias) = &linear.bias {
                    add("bias", bias.dims().to_vec());
                }
            }
            Layer::Conv2d(conv) => {
                add("weight", conv.weight.dims().to_vec());
                if let Some(bias) = &conv.bias {
                    add("bias", bias.dims().to_vec());
                }
            }
            Layer::BatchNorm(norm) => {
                let channels = norm.gamma.dims().to_vec();
                for suffix in ["weight", "bias", "running_mean", "running_var"] {
                    add(suffix, channels.clone());
                }
            }
            Layer::Residual(block) => {
                chain_names(&block.body, &format!("{module}residual."), names);
                chain_names(&block.skip, &format!("{module}skip."), names);
            }
            _ => {}
        }
        child += if matches!(layer, Layer::GlobalAvgPool(_)) {
            2
        } else {
            1
        };
    }
}

/// Loads the safetensors `state_dict` at `path` into `network`.
///
/// # Errors
///
/// [`ImportError::StateDict`] listing every missing, unexpected and mis-shaped tensor, and
/// [`ImportError::Io`] or [`ImportError::Parse`] when the file cannot be read.
pub fn load_state_dict(path: &Path, network: &mut Network, prefix: &str) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|error| {
        // torch.save writes a zip archive (since PyTorch 1.6) or a bare pickle.
        let torch_save = bytes.starts_with(b"PK\x03\x04") || bytes.first() == Some(&0x80);
        let detail = if torch_save {
            "this looks like a torch.save file, not safetensors; save the weights with \
             `safetensors.torch.save_file(model.state_dict(), PATH)`"
                .to_string()
        } else {
            format!("not a valid safetensors file: {error}")
        };
        ImportError::Parse {
            path: path.to_path_buf(),
            detail,
        }
    })?;

    let expected = torch_names(network, prefix);
    let mut found: Vec<HostTensor> = Vec::with_capacity(expected.len());
    let mut missing = Vec::new();
    let mut misshaped = Vec::new();
    for TorchName { name, shape } in &expected {
        match file.tensor(name) {
            Err(_) => missing.push(name.clone()),
            Ok(view) if view.shape() != shape.as_slice() => misshaped.push(format!(
                "{name} (expected {shape:?}, found {:?})",
                view.shape()
            )),
            Ok(view) => {
                let values = match view.dtype() {
                    Dtype::F32 => view
                        .data()
                        .chunks_exact(4)
                        .map(|bytes| f32::from_le_bytes(bytes.try_into().expect("4 bytes")))
                        .collect(),
                    Dtype::F64 => view
                        .data()
                        .chunks_exact(8)
                        .map(|bytes| f64::from_le_bytes(bytes.try_into().expect("8 bytes")) as f32)
                        .collect(),
                    other => {
                        misshaped.push(format!(
                            "{name} (element type {other:?}; save the state_dict in float32)"
                        ));
                        continue;
                    }
                };
                found.push(HostTensor {
                    name: name.clone(),
                    shape: shape.clone(),
                    values,
                });
            }
        }
    }

    let known: BTreeSet<&str> = expected.iter().map(|name| name.name.as_str()).collect();
    let unexpected: Vec<String> = file
        .names()
        .into_iter()
        .filter(|name| {
            let ignored = name
                .strip_suffix("num_batches_tracked")
                .is_some_and(|module| known.contains(format!("{module}running_mean").as_str()));
            !known.contains(name) && !ignored
        })
        .map(|name| name.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    if !missing.is_empty() || !unexpected.is_empty() || !misshaped.is_empty() {
        let names: Vec<&str> = file.names();
        let hint = prefix_hint(&expected, &names, prefix).unwrap_or_else(|| {
            "check that the architecture options (--arch, --widths, --activation, --blocks, \
             --width, --classes, --input-shape) describe the PyTorch model"
                .to_string()
        });
        return Err(ImportError::StateDict {
            path: path.to_path_buf(),
            missing,
            unexpected,
            misshaped,
            hint,
        });
    }
    let weights = chain_weights(&network.layers, &mut found.into_iter());
    assign_weights(network, &weights)
}

/// Finds a name prefix under which the file's names match the expected ones, such as the
/// `module.` that `nn.DataParallel` adds, and returns the hint to pass it.
fn prefix_hint(expected: &[TorchName], names: &[&str], prefix: &str) -> Option<String> {
    let first = expected.first()?;
    let bare = first.name.strip_prefix(prefix)?;
    let candidate = names
        .iter()
        .find_map(|name| name.strip_suffix(bare).filter(|head| *head != prefix))?;
    let all_match = expected.iter().all(|name| {
        let renamed = format!("{candidate}{}", &name.name[prefix.len()..]);
        names.contains(&renamed.as_str())
    });
    all_match
        .then(|| format!("the file's names start with `{candidate}`: pass --prefix {candidate:?}"))
}

/// Groups `tensors`, which come in the order of [`torch_names`], into the layers' weights.
fn chain_weights(
    layers: &[Layer],
    tensors: &mut impl Iterator<Item = HostTensor>,
) -> Vec<LayerWeights> {
    fn take(tensors: &mut impl Iterator<Item = HostTensor>) -> HostTensor {
        tensors.next().expect("one tensor per expected name")
    }

    let mut weights = Vec::with_capacity(layers.len());
    for layer in layers {
        weights.push(match layer {
            Layer::Linear(linear) => LayerWeights::Linear {
                weight: take(tensors),
                bias: linear.bias.as_ref().map(|_| take(tensors)),
            },
            Layer::Conv2d(conv) => LayerWeights::Conv2d {
                weight: take(tensors),
                bias: conv.bias.as_ref().map(|_| take(tensors)),
            },
            Layer::BatchNorm(_) => LayerWeights::BatchNorm {
                gamma: take(tensors),
                beta: take(tensors),
                mean: take(tensors),
                var: take(tensors),
            },
            Layer::Residual(block) => LayerWeights::Residual {
                body: chain_weights(&block.body, tensors),
                skip: chain_weights(&block.skip, tensors),
            },
            _ => LayerWeights::None,
        });
    }
    weights
}
