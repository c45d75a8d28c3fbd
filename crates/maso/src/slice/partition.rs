//! The partition of a slice into convex regions after some layers, and its invariants.

use super::code::{LayerCode, codes_from_pieces, read_f64};
use super::plane::SlicePlane;
use super::polygon::{Line, Polygon};
use crate::layer::Mode;
use crate::{MasoError, Network, Result};
use burn::tensor::{DType, Tensor, TensorData};
use serde::Serialize;
use std::sync::Arc;

/// An affine map of slice coordinates, stored as its values at the three points
/// `u = (0, 0)`, `(1, 0)` and `(0, 1)`.
///
/// Any affine layer maps these three rows exactly to the rows of its output, so the map of a
/// region after a layer is the layer's piece applied to the three rows.
///
/// NOTE: slopes are differences of rows, so on a slice rectangle far from `u = 0` relative to
/// its size, rounding grows with that distance. The planes built by [`SlicePlane::through`]
/// are centred on `u = 0`.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceMap {
    /// `[3, features]`, row-major.
    pub rows: Vec<f64>,
    pub features: usize,
}

impl SliceMap {
    /// Returns the map's value at slice coordinates `u`, `[features]`.
    pub fn evaluate(&self, u: [f64; 2]) -> Vec<f64> {
        let (p0, rest) = self.rows.split_at(self.features);
        let (p1, p2) = rest.split_at(self.features);
        p0.iter()
            .zip(p1)
            .zip(p2)
            .map(|((a, b), c)| a + u[0] * (b - a) + u[1] * (c - a))
            .collect()
    }

    /// Returns unit `unit` as an affine function of the slice coordinates.
    #[inline]
    pub fn line(&self, unit: usize) -> Line {
        let f = self.features;
        let a = self.rows[unit];
        Line {
            offset: a,
            slope: [self.rows[f + unit] - a, self.rows[2 * f + unit] - a],
        }
    }
}

/// One convex region of a slice partition: the inputs on which every layer so far uses the
/// same pieces.
#[derive(Debug, Clone)]
pub struct Region {
    pub polygon: Polygon,
    /// Region code of each top-level layer applied so far, shared with the region's siblings
    /// for earlier layers.
    pub codes: Vec<Arc<LayerCode>>,
    /// Output of the last layer applied, as an affine map of the slice coordinates.
    pub map: SliceMap,
}

/// Region count, areas and vertex counts of a partition.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionStats {
    /// Top-level layers applied.
    pub depth: usize,
    pub regions: usize,
    /// Area of the slice rectangle in slice coordinates.
    pub slice_area: f64,
    pub min_area: f64,
    pub mean_area: f64,
    pub max_area: f64,
    pub mean_vertices: f64,
    pub max_vertices: usize,
    /// Area of each region, in region order.
    pub areas: Vec<f64>,
    /// Vertex count of each region, in region order.
    pub vertices: Vec<usize>,
}

/// The exact partition of a slice into convex regions after the first `depth` top-level
/// layers of a network.
#[derive(Debug, Clone)]
pub struct Partition {
    pub plane: SlicePlane,
    pub depth: usize,
    pub regions: Vec<Region>,
}

/// Relative tolerance of the map check in [`Partition::check_invariants`] for f64 networks.
const F64_MAP_TOLERANCE: f64 = 1e-9;
/// The same for f32 networks, whose forward pass rounds to about 1e-7.
const F32_MAP_TOLERANCE: f64 = 1e-3;

impl Partition {
    /// Number of regions.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// Checks whether the partition has no regions, which a slicer never produces.
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Sum of the regions' areas.
    pub fn total_area(&self) -> f64 {
        self.regions
            .iter()
            .map(|region| region.polygon.area())
            .sum()
    }

    /// Returns the index of a region that contains `u`, the first if `u` is on a boundary.
    pub fn region_at(&self, u: [f64; 2]) -> Option<usize> {
        let tolerance = 1e-12 * self.scale();
        self.regions
            .iter()
            .position(|region| region.polygon.contains(u, tolerance))
    }

    /// Number of regions that meet the closed disc of `radius` around `center` (slice
    /// coordinates), tested exactly on each convex polygon.
    pub fn count_in_disc(&self, center: [f64; 2], radius: f64) -> usize {
        self.regions
            .iter()
            .filter(|region| region.polygon.meets_disc(center, radius))
            .count()
    }

    /// Region count, areas and vertices per region.
    pub fn stats(&self) -> PartitionStats {
        let areas: Vec<f64> = self.regions.iter().map(|r| r.polygon.area()).collect();
        let vertices: Vec<usize> = self
            .regions
            .iter()
            .map(|r| r.polygon.vertices().len())
            .collect();
        let count = areas.len().max(1) as f64;
        PartitionStats {
            depth: self.depth,
            regions: self.regions.len(),
            slice_area: self.plane.area(),
            min_area: areas.iter().copied().fold(f64::INFINITY, f64::min),
            mean_area: areas.iter().sum::<f64>() / count,
            max_area: areas.iter().copied().fold(0.0, f64::max),
            mean_vertices: vertices.iter().sum::<usize>() as f64 / count,
            max_vertices: vertices.iter().copied().max().unwrap_or(0),
            areas,
            vertices,
        }
    }

    /// Largest absolute slice coordinate of the rectangle: the length scale of tolerances.
    pub(crate) fn scale(&self) -> f64 {
        let [a, b] = self.plane.extent_min;
        let [c, d] = self.plane.extent_max;
        a.abs().max(b.abs()).max(c.abs()).max(d.abs())
    }

    /// Checks that the regions tile the slice and agree with a forward pass of `network`.
    ///
    /// - every region is a convex counter-clockwise polygon with positive area, inside the
    ///   slice rectangle;
    /// - the areas sum to the rectangle's area (relative error 1e-9);
    /// - every point of a 97 x 89 grid that is not within 1e-9 of a boundary lies in exactly
    ///   one region, so regions do not overlap;
    /// - at each region's centroid, the forward pass selects the region's code in every layer
    ///   and its output equals the region's map (relative error 1e-9 in f64, 1e-3 in f32).
    ///
    /// # Errors
    ///
    /// [`MasoError::InvalidPartition`] naming the first failed check and region, or an error
    /// of the forward pass.
    pub fn check_invariants(&self, network: &Network) -> Result<()> {
        self.check_polygons()?;
        self.check_area()?;
        self.check_cover()?;
        self.check_forward(network)
    }

    fn check_polygons(&self) -> Result<()> {
        let scale = self.scale();
        let outside = 1e-9 * scale;
        for (index, region) in self.regions.iter().enumerate() {
            let polygon = &region.polygon;
            if !polygon.is_convex(1e-9 * scale * scale) || polygon.area() <= 0.0 {
                return Err(invalid("convex polygon", index, format!("{polygon:?}")));
            }
            for v in polygon.vertices() {
                let inside = (0..2).all(|axis| {
                    v[axis] >= self.plane.extent_min[axis] - outside
                        && v[axis] <= self.plane.extent_max[axis] + outside
                });
                if !inside {
                    return Err(invalid(
                        "inside the slice",
                        index,
                        format!("vertex {v:?} outside the slice rectangle"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_area(&self) -> Result<()> {
        let total = self.total_area();
        let expected = self.plane.area();
        if (total - expected).abs() > 1e-9 * expected {
            return Err(invalid(
                "area sum",
                0,
                format!("regions cover {total}, the slice has {expected}"),
            ));
        }
        Ok(())
    }

    fn check_cover(&self) -> Result<()> {
        const COLUMNS: usize = 97;
        const ROWS: usize = 89;
        let [x0, y0] = self.plane.extent_min;
        let [x1, y1] = self.plane.extent_max;
        let margin = 1e-9 * self.scale();
        // Bucket the regions by the grid rows their bounding boxes span.
        let row_of = |y: f64| (((y - y0) / (y1 - y0)) * ROWS as f64 - 0.5).floor();
        let mut buckets: Vec<Vec<usize>> = vec![Vec::new(); ROWS];
        for (index, region) in self.regions.iter().enumerate() {
            let (min, max) = region.polygon.bounds();
            let first = row_of(min[1]).max(0.0) as usize;
            let last = (row_of(max[1]) + 1.0).clamp(0.0, (ROWS - 1) as f64) as usize;
            for bucket in &mut buckets[first.min(ROWS - 1)..=last] {
                bucket.push(index);
            }
        }
        for (row, bucket) in buckets.iter().enumerate() {
            let y = y0 + (row as f64 + 0.5) / ROWS as f64 * (y1 - y0);
            for column in 0..COLUMNS {
                let x = x0 + (column as f64 + 0.5) / COLUMNS as f64 * (x1 - x0);
                let point = [x, y];
                let near_boundary = bucket.iter().any(|&index| {
                    let polygon = &self.regions[index].polygon;
                    polygon.contains(point, margin) && !polygon.contains_strictly(point, margin)
                });
                if near_boundary {
                    continue;
                }
                let containing = bucket
                    .iter()
                    .filter(|&&index| self.regions[index].polygon.contains_strictly(point, margin))
                    .count();
                if containing != 1 {
                    return Err(invalid(
                        "regions tile the slice",
                        bucket.first().copied().unwrap_or(0),
                        format!("grid point {point:?} lies in {containing} regions"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_forward(&self, network: &Network) -> Result<()> {
        const CHUNK: usize = 512;
        let device = network.device();
        let probe = Tensor::<1>::zeros([1], &device);
        let tolerance = if probe.dtype() == DType::F64 {
            F64_MAP_TOLERANCE
        } else {
            F32_MAP_TOLERANCE
        };
        let dimension = self.plane.dimension();
        for (chunk_index, chunk) in self.regions.chunks(CHUNK).enumerate() {
            let centroids: Vec<[f64; 2]> = chunk.iter().map(|r| r.polygon.centroid()).collect();
            let mut inputs = Vec::with_capacity(chunk.len() * dimension);
            for &u in &centroids {
                inputs.extend(self.plane.point(u));
            }
            let x =
                Tensor::<2>::from_data(TensorData::new(inputs, [chunk.len(), dimension]), &device);
            let (output, pieces) = network.forward_pieces(x, Mode::Eval, self.depth);
            let features = output.dims()[1];
            let output = read_f64(output)?;
            let codes = codes_from_pieces(&pieces, chunk.len())?;
            for (offset, region) in chunk.iter().enumerate() {
                let index = chunk_index * CHUNK + offset;
                if region.codes.len() != self.depth {
                    return Err(invalid(
                        "one code per layer",
                        index,
                        format!("{} codes after {} layers", region.codes.len(), self.depth),
                    ));
                }
                for (layer, (found, expected)) in
                    codes[offset].iter().zip(&region.codes).enumerate()
                {
                    if found != expected.as_ref() {
                        return Err(invalid(
                            "code at the centroid",
                            index,
                            format!(
                                "layer {layer}: {} units differ from the forward pass at {:?}",
                                found.differing_units(expected),
                                centroids[offset]
                            ),
                        ));
                    }
                }
                let expected = &output[offset * features..(offset + 1) * features];
                let mapped = region.map.evaluate(centroids[offset]);
                let scale = expected.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                let error = mapped
                    .iter()
                    .zip(expected)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                if error > tolerance * scale {
                    return Err(invalid(
                        "map at the centroid",
                        index,
                        format!("the region's map differs from the forward pass by {error:e}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn invalid(check: &'static str, region: usize, detail: String) -> MasoError {
    MasoError::InvalidPartition {
        check,
        region,
        detail,
    }
}
