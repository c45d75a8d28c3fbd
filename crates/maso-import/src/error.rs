//! The import error type.

use std::path::PathBuf;

/// Location of a node in an ONNX graph: its op type, name and index in the node list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    pub op_type: String,
    pub name: String,
    pub position: usize,
}

impl std::fmt::Display for NodeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.name.is_empty() {
            "<unnamed>"
        } else {
            &self.name
        };
        write!(
            f,
            "{} node `{}` (node {} of the graph)",
            self.op_type, name, self.position
        )
    }
}

/// Errors of ONNX and state_dict import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("failed to read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is not a valid ONNX model or safetensors file.
    #[error("failed to parse {}: {detail}", path.display())]
    Parse { path: PathBuf, detail: String },

    /// The graph uses an op that has no MASO layer.
    #[error(
        "unsupported op: {node}; supported ops: {supported}. \
         Re-export the model without it or replace the module that produces it"
    )]
    UnsupportedOp { node: NodeRef, supported: String },

    /// The graph contains an op that is not piecewise affine, or not convex, so the network is
    /// no composition of max-affine splines and has no exact `A[x] x + b[x]` form.
    #[error(
        "{node} is not a max-affine spline operator: {reason}. The spline view applies only to \
         networks of affine layers and convex piecewise-affine nonlinearities (ReLU, leaky ReLU, \
         absolute value, max-pooling)"
    )]
    NotPiecewiseAffine { node: NodeRef, reason: String },

    /// An op is supported, but not with this attribute value or input.
    #[error("{node}: unsupported {attribute} = {value}: {reason}")]
    UnsupportedAttribute {
        node: Box<NodeRef>,
        attribute: String,
        value: String,
        reason: String,
    },

    /// The graph's structure is not a chain of layers with residual additions.
    #[error("unsupported graph structure at {node}: {detail}")]
    Structure { node: NodeRef, detail: String },

    /// The graph as a whole cannot be imported (no input, several inputs or outputs).
    #[error("unsupported graph in {}: {detail}", path.display())]
    Graph { path: PathBuf, detail: String },

    /// The input shape is missing or conflicts with the model's.
    #[error("input shape of {}: {detail}", path.display())]
    InputShape { path: PathBuf, detail: String },

    /// A weight tensor could not be decoded or has the wrong shape.
    #[error("tensor `{name}`: {detail}")]
    Tensor { name: String, detail: String },

    /// A state_dict does not match the network's parameters.
    #[error(
        "state_dict {} does not match the network:{}{}{}\n  {hint}",
        path.display(),
        list("missing tensors", missing),
        list("unexpected tensors", unexpected),
        list("tensors with the wrong shape", misshaped)
    )]
    StateDict {
        path: PathBuf,
        missing: Vec<String>,
        unexpected: Vec<String>,
        misshaped: Vec<String>,
        /// Suggested fix: a name prefix that would match, or the architecture options.
        hint: String,
    },

    /// The imported layers do not form a valid network.
    #[error(transparent)]
    Network(#[from] maso::MasoError),
}

fn list(title: &str, items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("\n  {title} ({}): {}", items.len(), items.join(", "))
    }
}

/// Result alias for this crate.
pub type Result<T, E = ImportError> = std::result::Result<T, E>;
