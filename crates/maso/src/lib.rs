//! The spline view of deep networks.
//!
//! A network built from affine layers and convex piecewise-affine nonlinearities (ReLU, leaky
//! ReLU, absolute value, max-pooling) is a composition of max-affine spline operators (MASOs).
//! Conditioned on an input `x`, every layer uses one affine piece per unit (its region code),
//! so the network, and every prefix of it, is exactly the affine map
//! `f(x) = A[x] x + b[x]`. The rows of `A[x]` for the logits are the class templates, and the
//! prediction is the matched filter `argmax_c <A_c[x], x> + b_c[x]`.
//!
//! The theory is from R. Balestriero and R. Baraniuk, "A Spline Theory of Deep Learning",
//! ICML 2018.
//!
//! - [`layer`]: the MASO layers, each with its piece selection and pullback.
//! - [`Network`] and [`NetworkConfig`]: a chain of layers.
//! - [`affine_map`]: `A[x]` and `b[x]` for a batch.
//! - [`arch`]: the MLP, SmallCNN, LargeCNN and ResNet architectures.
//! - [`penalty`]: the orthogonal-template penalty and its unbiased estimators.
//! - [`train`], [`checkpoint`], [`data`], [`templates`]: training, checkpoints, input batches
//!   and the template analysis behind the `maso` command.
//! - [`codes`] and [`search`]: bit-packed region codes, the partition distance and exact
//!   k-nearest-neighbour search.
//! - [`slice`](mod@slice): exact partitions of 2-D slices of input space, the decision boundary in them
//!   and the local complexity.
//! - [`toy`]: 2-D toy data sets (moons, circles) and the small MLPs trained on them.

pub mod affine;
pub mod arch;
mod error;
pub mod layer;
mod network;
mod shape;

pub use affine::{AffineMap, AffineOptions, affine_map};
pub use error::{MasoError, Result};
pub use layer::{Layer, LayerConfig, MasoLayer, Mode, Piece};
pub use network::{Network, NetworkConfig};
pub use shape::FeatureShape;
pub mod checkpoint;
pub mod data;
pub mod templates;
pub mod train;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
pub mod codes;
pub mod penalty;
pub mod search;
pub mod slice;
pub mod toy;
