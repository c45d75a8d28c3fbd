//! Read access to a parsed ONNX graph: constants, consumers and attributes.

use crate::error::NodeRef;
use crate::weights::HostTensor;
use crate::{ImportError, Result};
use onnx_protobuf::{AttributeProto, GraphProto, NodeProto, TensorProto};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

// TensorProto.DataType and TensorProto.DataLocation values of onnx.proto.
const FLOAT: i32 = 1;
const INT32: i32 = 6;
const INT64: i32 = 7;
const BOOL: i32 = 9;
const DOUBLE: i32 = 11;
const EXTERNAL: i32 = 1;

/// A constant of the graph: an initializer or the output of a `Constant` node.
#[derive(Debug, Clone)]
pub(crate) enum Constant {
    Float(HostTensor),
    Int { values: Vec<i64> },
}

/// The nodes of a graph, indexed by the values they consume, and its constants.
pub(crate) struct Graph<'a> {
    pub nodes: &'a [NodeProto],
    constants: HashMap<String, Constant>,
    consumers: HashMap<&'a str, Vec<usize>>,
    /// Identity nodes whose input is a constant: part of no layer.
    constant_identities: HashSet<usize>,
}

impl<'a> Graph<'a> {
    /// Indexes `graph`; tensors stored outside the model are read from files in `model_dir`.
    pub fn new(graph: &'a GraphProto, model_dir: &Path) -> Result<Self> {
        let mut external = ExternalFiles::new(model_dir);
        let mut constants = HashMap::new();
        for tensor in &graph.initializer {
            constants.insert(
                tensor.name.clone(),
                decode(tensor, &tensor.name, &mut external)?,
            );
        }
        for node in graph.node.iter().filter(|node| node.op_type == "Constant") {
            let name = node.output.first().cloned().unwrap_or_default();
            let tensor = node
                .attribute
                .iter()
                .find(|attribute| attribute.name == "value")
                .and_then(|attribute| attribute.t.as_ref())
                .ok_or_else(|| ImportError::Tensor {
                    name: name.clone(),
                    detail: "Constant node without a tensor `value` attribute (value_float, \
                             value_ints and sparse constants are not supported)"
                        .into(),
                })?;
            constants.insert(name.clone(), decode(tensor, &name, &mut external)?);
        }

        // The TorchScript-based exporter stores equal parameters once and adds an Identity
        // node for each copy (two zero biases, two fresh batch norms), so an Identity of a
        // constant is a constant. Nodes are in topological order, so one pass suffices.
        let mut constant_identities = HashSet::new();
        for (index, node) in graph.node.iter().enumerate() {
            if node.op_type != "Identity" {
                continue;
            }
            let (Some(input), Some(output)) = (node.input.first(), node.output.first()) else {
                continue;
            };
            if let Some(constant) = constants.get(input) {
                let constant = match constant {
                    Constant::Float(tensor) => Constant::Float(HostTensor {
                        name: output.clone(),
                        ..tensor.clone()
                    }),
                    other => other.clone(),
                };
                constants.insert(output.clone(), constant);
                constant_identities.insert(index);
            }
        }

        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, node) in graph.node.iter().enumerate() {
            if constant_identities.contains(&index) {
                continue;
            }
            for input in node.input.iter().filter(|input| !input.is_empty()) {
                if !constants.contains_key(input) {
                    consumers.entry(input.as_str()).or_default().push(index);
                }
            }
        }
        Ok(Self {
            nodes: &graph.node,
            constants,
            consumers,
            constant_identities,
        })
    }

    /// Checks whether node `index` only copies a constant and so needs no conversion.
    pub fn is_constant_node(&self, index: usize) -> bool {
        self.nodes[index].op_type == "Constant" || self.constant_identities.contains(&index)
    }

    pub fn is_constant(&self, name: &str) -> bool {
        self.constants.contains_key(name)
    }

    /// Indices of the nodes that take the computed value `name` as an input.
    pub fn consumers(&self, name: &str) -> &[usize] {
        self.consumers.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn node_ref(&self, index: usize) -> NodeRef {
        let node = &self.nodes[index];
        NodeRef {
            op_type: node.op_type.clone(),
            name: node.name.clone(),
            position: index,
        }
    }

    /// Returns the float constant that is input `slot` of node `index`.
    pub fn float_input(&self, index: usize, slot: usize) -> Result<HostTensor> {
        match self.constant_input(index, slot)? {
            Constant::Float(tensor) => Ok(tensor.clone()),
            Constant::Int { .. } => Err(self.input_error(index, slot, "is an integer tensor")),
        }
    }

    /// Returns the float constant input `slot` of node `index`, or `None` when the slot is empty.
    pub fn optional_float_input(&self, index: usize, slot: usize) -> Result<Option<HostTensor>> {
        match self.nodes[index].input.get(slot) {
            Some(name) if !name.is_empty() => self.float_input(index, slot).map(Some),
            _ => Ok(None),
        }
    }

    /// Returns the integer constant that is input `slot` of node `index`.
    pub fn int_input(&self, index: usize, slot: usize) -> Result<Vec<i64>> {
        match self.constant_input(index, slot)? {
            Constant::Int { values, .. } => Ok(values.clone()),
            Constant::Float(_) => Err(self.input_error(index, slot, "is a float tensor")),
        }
    }

    fn constant_input(&self, index: usize, slot: usize) -> Result<&Constant> {
        let name = self.nodes[index]
            .input
            .get(slot)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| self.input_error(index, slot, "is missing"))?;
        self.constants.get(name).ok_or_else(|| {
            self.input_error(
                index,
                slot,
                "is computed from the network's input; only constant (initializer or Constant) \
                 inputs are supported there",
            )
        })
    }

    fn input_error(&self, index: usize, slot: usize, problem: &str) -> ImportError {
        let name = self.nodes[index]
            .input
            .get(slot)
            .cloned()
            .unwrap_or_default();
        ImportError::UnsupportedAttribute {
            node: Box::new(self.node_ref(index)),
            attribute: format!("input {slot}"),
            value: format!("`{name}`"),
            reason: format!("the input {problem}"),
        }
    }

    pub fn attribute(&self, index: usize, name: &str) -> Option<&'a AttributeProto> {
        self.nodes[index]
            .attribute
            .iter()
            .find(|attribute| attribute.name == name)
    }

    pub fn int_attribute(&self, index: usize, name: &str, default: i64) -> i64 {
        self.attribute(index, name)
            .map_or(default, |attribute| attribute.i)
    }

    pub fn float_attribute(&self, index: usize, name: &str, default: f32) -> f32 {
        self.attribute(index, name)
            .map_or(default, |attribute| attribute.f)
    }

    pub fn ints_attribute(&self, index: usize, name: &str) -> Option<Vec<i64>> {
        self.attribute(index, name)
            .map(|attribute| attribute.ints.clone())
    }

    pub fn string_attribute(&self, index: usize, name: &str) -> Option<String> {
        self.attribute(index, name)
            .map(|attribute| String::from_utf8_lossy(&attribute.s).into_owned())
    }
}

/// The external data files of a model (such as `model.onnx.data`, which the dynamo exporter
/// writes by default), each read once.
struct ExternalFiles {
    dir: PathBuf,
    files: HashMap<String, Vec<u8>>,
}

impl ExternalFiles {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            files: HashMap::new(),
        }
    }

    /// Reads the bytes that the `external_data` entries of `tensor` point to.
    fn read(&mut self, tensor: &TensorProto, name: &str) -> Result<Vec<u8>> {
        let entry = |key: &str| {
            tensor
                .external_data
                .iter()
                .find(|entry| entry.key == key)
                .map(|entry| entry.value.clone())
        };
        let error = |detail: String| ImportError::Tensor {
            name: name.to_string(),
            detail,
        };
        let location = entry("location")
            .ok_or_else(|| error("external data without a `location` entry".into()))?;
        let number = |key: &str| -> Result<Option<usize>> {
            entry(key)
                .map(|value| {
                    value
                        .parse::<usize>()
                        .map_err(|_| error(format!("invalid external data {key} `{value}`")))
                })
                .transpose()
        };
        let offset = number("offset")?.unwrap_or(0);
        let length = number("length")?;

        if !self.files.contains_key(&location) {
            let path = self.dir.join(&location);
            let bytes = std::fs::read(&path).map_err(|source| {
                error(format!(
                    "failed to read its external data file {}: {source}; keep the file next to \
                     the .onnx file or re-export with `external_data=False`",
                    path.display()
                ))
            })?;
            self.files.insert(location.clone(), bytes);
        }
        let bytes = &self.files[&location];
        let end = length.map_or(bytes.len(), |length| offset.saturating_add(length));
        bytes.get(offset..end).map(<[u8]>::to_vec).ok_or_else(|| {
            error(format!(
                "bytes {offset}..{end} lie outside its external data file `{location}` of {} bytes",
                bytes.len()
            ))
        })
    }
}

/// Decodes a tensor: raw little-endian bytes (inside the model or in an external data file) or
/// typed fields.
fn decode(tensor: &TensorProto, name: &str, external: &mut ExternalFiles) -> Result<Constant> {
    let error = |detail: String| ImportError::Tensor {
        name: name.to_string(),
        detail,
    };
    let external_bytes;
    let raw = if tensor.data_location.value() == EXTERNAL {
        external_bytes = external.read(tensor, name)?;
        &external_bytes
    } else {
        &tensor.raw_data
    };
    let shape = tensor
        .dims
        .iter()
        .map(|&dim| usize::try_from(dim))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| error(format!("negative dimension in {:?}", tensor.dims)))?;
    let count: usize = shape.iter().product();

    let check = |found: usize| {
        if found == count {
            Ok(())
        } else {
            Err(error(format!(
                "shape {shape:?} needs {count} values, found {found}"
            )))
        }
    };
    match tensor.data_type {
        FLOAT | DOUBLE => {
            let values: Vec<f32> = if !raw.is_empty() && tensor.data_type == FLOAT {
                raw.chunks_exact(4)
                    .map(|bytes| f32::from_le_bytes(bytes.try_into().expect("4 bytes")))
                    .collect()
            } else if !raw.is_empty() {
                raw.chunks_exact(8)
                    .map(|bytes| f64::from_le_bytes(bytes.try_into().expect("8 bytes")) as f32)
                    .collect()
            } else if tensor.data_type == FLOAT {
                tensor.float_data.clone()
            } else {
                tensor
                    .double_data
                    .iter()
                    .map(|&value| value as f32)
                    .collect()
            };
            check(values.len())?;
            Ok(Constant::Float(HostTensor {
                name: name.to_string(),
                shape,
                values,
            }))
        }
        INT64 | INT32 | BOOL => {
            // Booleans are one byte each in raw data and int32 values in `int32_data`.
            let width = match tensor.data_type {
                INT64 => 8,
                INT32 => 4,
                _ => 1,
            };
            let values: Vec<i64> = if !raw.is_empty() {
                raw.chunks_exact(width)
                    .map(|bytes| match bytes.len() {
                        8 => i64::from_le_bytes(bytes.try_into().expect("8 bytes")),
                        4 => i64::from(i32::from_le_bytes(bytes.try_into().expect("4 bytes"))),
                        _ => i64::from(bytes[0]),
                    })
                    .collect()
            } else if tensor.data_type == INT64 {
                tensor.int64_data.clone()
            } else {
                tensor
                    .int32_data
                    .iter()
                    .map(|&value| i64::from(value))
                    .collect()
            };
            check(values.len())?;
            Ok(Constant::Int { values })
        }
        other => Err(error(format!(
            "element type {} is not supported; export the model in float32",
            type_name(other)
        ))),
    }
}

/// Name of a `TensorProto.DataType` value of onnx.proto.
fn type_name(data_type: i32) -> String {
    let name = match data_type {
        0 => "UNDEFINED",
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        14 => "COMPLEX64",
        15 => "COMPLEX128",
        16 => "BFLOAT16",
        _ => return format!("number {data_type}"),
    };
    name.to_string()
}
