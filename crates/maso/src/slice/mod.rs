//! Exact partitions of 2-D slices of input space.
//!
//! A slice is the plane `x = origin + u1 d1 + u2 d2` of input space over a rectangle of slice
//! coordinates `u`. Every layer of a MASO network cuts each region of the layers before it
//! into convex polygons, and on each polygon it uses one piece per unit. After any number of
//! layers the slice is therefore tiled by convex regions. Each region has its region code and
//! the affine map `u -> f(x(u))` of the output so far.
//!
//! - [`Slicer`]: the layer-by-layer refinement, for every layer of [`crate::layer`].
//! - [`Partition`]: the regions after some layers, their statistics, region counts in discs
//!   and [`Partition::check_invariants`].
//! - [`Partition::class_cells`] and [`Partition::decision_boundary`]: where the top logit
//!   changes.
//! - [`local_complexity`]: sampled counts of units that change their piece near data points,
//!   in the full input dimension.

mod code;
mod complexity;
mod decision;
mod envelope;
mod partition;
mod plane;
mod polygon;
mod propagate;

pub use code::{LayerCode, codes_from_pieces};
pub use complexity::{LayerComplexity, LocalComplexity, local_complexity};
pub use decision::{BoundarySegment, ClassCell};
pub use partition::{Partition, PartitionStats, Region, SliceMap};
pub use plane::SlicePlane;
pub use polygon::{Cut, Line, Polygon};
pub use propagate::Slicer;

/// Area under which a part of a cut is a sliver of rounding, for a slice `plane`.
pub(crate) fn propagate_min_area(plane: &SlicePlane) -> f64 {
    propagate::SLIVER_FRACTION * plane.area()
}
