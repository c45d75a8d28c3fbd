//! The decision boundary inside a slice: where the top logit changes.

use super::envelope::{argmax_at, cut_by_argmax};
use super::partition::Partition;
use super::polygon::{Line, Polygon};
use serde::Serialize;

/// Part of a region on which one class has the top logit.
#[derive(Debug, Clone)]
pub struct ClassCell {
    pub polygon: Polygon,
    pub class: usize,
    /// Index of the region of the partition that contains the cell.
    pub region: usize,
}

/// A segment of the decision boundary, in slice coordinates, between two classes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BoundarySegment {
    pub start: [f64; 2],
    pub end: [f64; 2],
    /// The two classes whose logits tie on the segment, lower index first.
    pub classes: [usize; 2],
}

/// Relative tolerance under which two logits tie on an edge.
const TIE_TOLERANCE: f64 = 1e-8;

impl Partition {
    /// Cuts every region into the cells where one class has the top logit.
    ///
    /// The region maps must be the logits, so call this on the partition after the last
    /// layer. On a region the top logit is the maximum of affine functions of `u`, so the cells
    /// are convex and meet only where the argmax changes.
    pub fn class_cells(&self) -> Vec<ClassCell> {
        let min_area = super::propagate_min_area(&self.plane);
        let mut cells = Vec::with_capacity(self.regions.len());
        for (index, region) in self.regions.iter().enumerate() {
            let logits: Vec<Line> = (0..region.map.features)
                .map(|class| region.map.line(class))
                .collect();
            let mut polygons = Vec::new();
            cut_by_argmax(region.polygon.clone(), &logits, min_area, &mut polygons);
            for polygon in polygons {
                let class = argmax_at(&logits, polygon.centroid(), polygon.radius());
                cells.push(ClassCell {
                    polygon,
                    class,
                    region: index,
                });
            }
        }
        cells
    }

    /// Returns the decision boundary: the edges of `cells` (from [`Partition::class_cells`])
    /// across which the top class changes.
    ///
    /// The network is continuous, so on an edge between two cells of classes `c` and `k` the
    /// logits of `c` and `k` tie. An edge is on the boundary when, at its midpoint, another
    /// class ties with the cell's class (relative tolerance 1e-8). The logits differ by an
    /// affine function along the edge, so a tie at the midpoint of an edge that carries the
    /// boundary anywhere means a tie along all of it. Each segment is reported once, from the
    /// cell of the lower class.
    ///
    /// NOTE: where another class's logit touches the top logit along an edge without exceeding
    /// it on either side, the edge is reported although the top class does not change there.
    pub fn decision_boundary(&self, cells: &[ClassCell]) -> Vec<BoundarySegment> {
        let mut segments = Vec::new();
        for cell in cells {
            let map = &self.regions[cell.region].map;
            for (start, end) in cell.polygon.edges() {
                let middle = [(start[0] + end[0]) / 2.0, (start[1] + end[1]) / 2.0];
                let logits = map.evaluate(middle);
                let scale = logits.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                let own = logits[cell.class];
                let tied = logits
                    .iter()
                    .enumerate()
                    .filter(|&(class, &value)| {
                        class != cell.class && value >= own - TIE_TOLERANCE * scale
                    })
                    .map(|(class, _)| class)
                    .next();
                if let Some(other) = tied
                    && cell.class < other
                {
                    segments.push(BoundarySegment {
                        start,
                        end,
                        classes: [cell.class, other],
                    });
                }
            }
        }
        segments
    }
}
