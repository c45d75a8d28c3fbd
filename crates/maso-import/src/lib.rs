//! Import of PyTorch models into the spline view.
//!
//! - [`onnx`]: ONNX graphs, from `torch.onnx.export` (TorchScript-based or dynamo exporter),
//!   mapped onto the library's MASO layers; the supported ops are listed in
//!   [`onnx::ops::SUPPORTED_OPS`].
//! - [`state_dict`]: PyTorch `state_dict`s saved as safetensors, loaded into a network whose
//!   configuration is known (the built-in architectures), with the parameter names of
//!   [`state_dict::torch_names`].
//!
//! Both produce a [`maso::Network`] with the model's weights, whose `A[x]` and `b[x]` are the
//! exact Jacobian and offset of the PyTorch model at `x`.

mod error;
pub mod onnx;
pub mod state_dict;
mod weights;

pub use error::{ImportError, NodeRef, Result};
pub use onnx::{ImportedModel, import_onnx};
pub use weights::{HostTensor, LayerWeights, assign_weights};
