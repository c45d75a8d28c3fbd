//! The library's error type.

use std::path::PathBuf;

/// Errors returned by the spline view, the network builders, training and checkpoints.
///
/// Each variant carries the values needed to act on it: the operation, the shapes involved and
/// the file, where there is one.
#[derive(Debug, thiserror::Error)]
pub enum MasoError {
    /// An input tensor or feature map does not have the shape a layer expects.
    #[error("{op}: expected input shape {expected}, found {found}")]
    Shape {
        op: String,
        expected: String,
        found: String,
    },

    /// A layer or network parameter is outside its valid range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidConfig {
        name: String,
        value: String,
        reason: String,
    },

    /// An input contains NaN or infinite values.
    #[error(
        "{what} contains {count} non-finite values (NaN or infinity); \
         clean or re-normalize the data before analysing it"
    )]
    NonFinite { what: String, count: usize },

    /// An operation received an empty batch or data set.
    #[error("{what} is empty; pass at least one example")]
    Empty { what: String },

    /// A name (architecture, code layer) that the library does not know.
    #[error("unknown {kind} `{name}`; known: {known}")]
    Unknown {
        kind: String,
        name: String,
        known: String,
    },

    /// A checkpoint or output file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A checkpoint's JSON configuration is invalid.
    #[error("invalid JSON in {}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// A checkpoint file is invalid: its weights do not match the network that its
    /// configuration describes, its format is unsupported, or it cannot be parsed.
    #[error("invalid checkpoint file {}: {detail}", path.display())]
    Checkpoint { path: PathBuf, detail: String },

    /// A data set failed validation.
    #[error(transparent)]
    Data(#[from] maso_data::DataError),

    /// A slice partition failed one of its invariants.
    #[error("slice partition failed the check `{check}` at region {region}: {detail}")]
    InvalidPartition {
        check: &'static str,
        region: usize,
        detail: String,
    },

    /// A slice would need more memory for its regions' maps than its limit allows.
    #[error(
        "the slice needs {regions} regions of {features} features each, which exceeds the memory \
         limit of {limit_mib} MiB; shrink the slice rectangle or raise the limit"
    )]
    SliceMemory {
        regions: String,
        features: usize,
        limit_mib: usize,
    },

    /// Values could not be read back from the compute device.
    #[error("reading tensor values back from the device failed: {detail}")]
    Readback { detail: String },
}

/// Result alias for this crate.
pub type Result<T, E = MasoError> = std::result::Result<T, E>;

impl MasoError {
    pub(crate) fn shape(op: &str, expected: impl ToString, found: impl ToString) -> Self {
        Self::Shape {
            op: op.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    pub(crate) fn config(name: &str, value: impl ToString, reason: impl ToString) -> Self {
        Self::InvalidConfig {
            name: name.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}
