//! Layer-by-layer refinement of a slice partition.
//!
//! On a region the output of every layer is affine in the slice coordinates `u`, so it is
//! fixed by its values at three points (a [`SliceMap`]). An affine layer maps the three rows
//! exactly. A two-piece activation cuts the region along the zero lines of the units whose
//! input changes sign inside it, then picks each part's pieces at its centroid. A max-pool
//! layer cuts it along the differences of window candidates until each part has one argmax per
//! window. A residual block runs its body and its skip path on the same parts and adds them.

use super::code::{LayerCode, read_f64};
use super::envelope::{argmax_at, cut_by_argmax};
use super::partition::{Partition, Region, SliceMap};
use super::plane::SlicePlane;
use super::polygon::{Line, Polygon};
use crate::layer::{Layer, Linear, MaxPool2d, Mode, Residual};
use crate::{MasoError, MasoLayer, Network, Result};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;
use std::sync::Arc;
use tracing::debug;

/// Regions smaller than this fraction of the slice's area are slivers of rounding and are not
/// cut off (see [`Polygon::cut`]).
pub(super) const SLIVER_FRACTION: f64 = 1e-13;

/// Values per chunk of rows sent through a burn layer: 32 MiB of f64.
const CHUNK_VALUES: usize = 1 << 22;

/// Values per chunk of rows of a fully connected layer: 2 MiB of f64, so that a layer's rows
/// form several chunks for the threads to share.
const LINEAR_CHUNK_VALUES: usize = 1 << 18;

/// Computes the exact partition of a slice, one top-level layer at a time.
///
/// Region maps are computed in f64. Fully connected layers, activations and max-pooling run in
/// plain f64 Rust with the weights converted to f64, which is exact for f32 weights. Other
/// affine layers (convolution, batch norm, average pooling) run through burn on the network's
/// device, so put the network on a device configured for f64 to keep them exact.
///
/// ```
/// use maso::slice::{SlicePlane, Slicer};
/// use maso::{FeatureShape, LayerConfig, NetworkConfig};
///
/// let network = NetworkConfig::new(
///     FeatureShape::flat(2),
///     vec![LayerConfig::linear(8), LayerConfig::Relu, LayerConfig::linear(3)],
/// )
/// .init(&burn::tensor::Device::flex())?;
/// let plane = SlicePlane::input_plane([-1.0, -1.0], [1.0, 1.0])?;
/// let mut slicer = Slicer::new(&network, plane)?;
/// let partition = slicer.run(network.depth())?;
/// assert!(partition.len() >= 1);
/// assert!((partition.total_area() - 4.0).abs() < 1e-9);
/// # Ok::<(), maso::MasoError>(())
/// ```
pub struct Slicer<'a> {
    network: &'a Network,
    partition: Partition,
    min_area: f64,
    memory_limit: usize,
}

/// Default memory limit of the regions' rows: 4 GiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 4 << 30;

/// A region while a layer is applied to it.
struct Cell {
    polygon: Polygon,
    /// `[3, features]` values of the current activation at the three points of a [`SliceMap`].
    rows: Vec<f64>,
    features: usize,
    /// Rows saved by enclosing residual blocks: their inputs, then their bodies' outputs.
    stack: Vec<Vec<f64>>,
    /// Code of the top-level layer being applied.
    code: LayerCode,
    /// Index of the region of the previous partition that contains this cell.
    parent: usize,
}

impl Cell {
    fn line(&self, unit: usize) -> Line {
        let f = self.features;
        let a = self.rows[unit];
        Line {
            offset: a,
            slope: [self.rows[f + unit] - a, self.rows[2 * f + unit] - a],
        }
    }

    fn child(&self, polygon: Polygon) -> Cell {
        Cell {
            polygon,
            rows: self.rows.clone(),
            features: self.features,
            stack: self.stack.clone(),
            code: self.code.clone(),
            parent: self.parent,
        }
    }
}

impl<'a> Slicer<'a> {
    /// Starts from the whole slice rectangle, before any layer.
    ///
    /// # Errors
    ///
    /// When the plane's dimension differs from the network's input size.
    pub fn new(network: &'a Network, plane: SlicePlane) -> Result<Self> {
        let inputs = network.input_shape().numel();
        if plane.dimension() != inputs {
            return Err(MasoError::shape(
                "slice plane",
                format!("{inputs} input values, as the network"),
                plane.dimension(),
            ));
        }
        let mut rows = plane.point([0.0, 0.0]);
        rows.extend(plane.point([1.0, 0.0]));
        rows.extend(plane.point([0.0, 1.0]));
        let region = Region {
            polygon: Polygon::rectangle(plane.extent_min, plane.extent_max),
            codes: Vec::new(),
            map: SliceMap {
                rows,
                features: inputs,
            },
        };
        let min_area = SLIVER_FRACTION * plane.area();
        Ok(Self {
            network,
            partition: Partition {
                plane,
                depth: 0,
                regions: vec![region],
            },
            min_area,
            memory_limit: DEFAULT_MEMORY_LIMIT,
        })
    }

    /// Sets the memory that the regions' rows (`3 * features` f64 values per region) may take,
    /// in bytes. A layer that would need more fails with an error instead of exhausting memory.
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Returns the partition after the layers applied so far.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// Takes the partition after the layers applied so far, ending the refinement.
    pub fn into_partition(self) -> Partition {
        self.partition
    }

    /// Refines the partition by the next top-level layer and returns it.
    ///
    /// # Errors
    ///
    /// When every layer has been applied, or a burn layer's output cannot be read back.
    pub fn step(&mut self) -> Result<&Partition> {
        let depth = self.partition.depth;
        let Some(layer) = self.network.layers.get(depth) else {
            return Err(MasoError::config(
                "slice depth",
                depth + 1,
                format!("the network has {} top-level layers", self.network.depth()),
            ));
        };
        if let Layer::Linear(linear) = layer {
            // An affine layer cuts nothing: map the regions' rows in place.
            apply_linear(linear, &mut self.partition.regions)?;
            let code = Arc::new(LayerCode::default());
            for region in &mut self.partition.regions {
                region.codes.push(code.clone());
            }
            self.partition.depth = depth + 1;
            return Ok(&self.partition);
        }
        let regions = std::mem::take(&mut self.partition.regions);
        let mut parents = Vec::with_capacity(regions.len());
        let mut cells = Vec::with_capacity(regions.len());
        for (index, region) in regions.into_iter().enumerate() {
            cells.push(Cell {
                polygon: region.polygon,
                rows: region.map.rows,
                features: region.map.features,
                stack: Vec::new(),
                code: LayerCode::default(),
                parent: index,
            });
            parents.push(region.codes);
        }
        let cells = self.apply(layer, cells)?;
        self.partition.regions = cells
            .into_iter()
            .map(|cell| {
                let mut codes = parents[cell.parent].clone();
                codes.push(Arc::new(cell.code));
                Region {
                    polygon: cell.polygon,
                    codes,
                    map: SliceMap {
                        rows: cell.rows,
                        features: cell.features,
                    },
                }
            })
            .collect();
        self.partition.depth = depth + 1;
        debug!(
            layer = depth,
            kind = layer.kind(),
            regions = self.partition.regions.len(),
            "refined the slice partition"
        );
        Ok(&self.partition)
    }

    /// Applies top-level layers until `depth` of them have been applied, and returns the
    /// partition.
    ///
    /// # Errors
    ///
    /// When `depth` exceeds the network's depth or is below the layers already applied.
    pub fn run(&mut self, depth: usize) -> Result<&Partition> {
        if depth > self.network.depth() || depth < self.partition.depth {
            return Err(MasoError::config(
                "slice depth",
                depth,
                format!(
                    "must lie between the {} layers applied and the network's {}",
                    self.partition.depth,
                    self.network.depth()
                ),
            ));
        }
        while self.partition.depth < depth {
            self.step()?;
        }
        Ok(&self.partition)
    }

    fn apply(&self, layer: &Layer, cells: Vec<Cell>) -> Result<Vec<Cell>> {
        let min_area = self.min_area;
        match layer {
            Layer::Linear(linear) => {
                let mut cells = cells;
                apply_linear(linear, &mut cells)?;
                Ok(cells)
            }
            Layer::Activation(activation) => {
                let negative_slope = activation.kind().negative_slope();
                let features = layer.output_shape().numel();
                let max_parts = self.max_regions(features);
                // Cut first and materialize the parts' rows only once they fit in memory.
                let cut: Vec<(Cell, Option<Vec<Polygon>>)> = cells
                    .into_par_iter()
                    .map(|cell| {
                        let polygons = cut_activation(&cell, min_area, max_parts);
                        (cell, polygons)
                    })
                    .collect();
                let total = cut.iter().try_fold(0usize, |total, (_, polygons)| {
                    Some(total + polygons.as_ref().map_or(1, Vec::len))
                });
                let too_many = cut
                    .iter()
                    .any(|(_, polygons)| polygons.as_ref().is_some_and(|p| p.is_empty()));
                self.check_memory(
                    if too_many {
                        usize::MAX
                    } else {
                        total.unwrap_or(0)
                    },
                    features,
                )?;
                Ok(cut
                    .into_par_iter()
                    .flat_map_iter(|(cell, polygons)| {
                        activate_parts(cell, polygons, negative_slope)
                    })
                    .collect())
            }
            Layer::MaxPool2d(pool) => {
                let windows = pool_windows(pool);
                let features = layer.output_shape().numel();
                self.check_memory(cells.len(), features)?;
                let cells: Vec<Cell> = cells
                    .into_par_iter()
                    .flat_map_iter(|cell| cut_max_pool(cell, pool, &windows, min_area))
                    .collect();
                self.check_memory(cells.len(), features)?;
                Ok(cells)
            }
            Layer::Residual(block) => self.apply_residual(block, cells),
            // Eval mode: dropout is the identity and flatten does not change flat rows.
            Layer::Dropout(_) | Layer::Flatten(_) => Ok(cells),
            Layer::Conv2d(_)
            | Layer::AvgPool2d(_)
            | Layer::GlobalAvgPool(_)
            | Layer::BatchNorm(_) => {
                self.check_memory(cells.len(), layer.output_shape().numel())?;
                apply_burn(layer, cells, &self.network.device())
            }
        }
    }

    /// Most regions whose rows of `features` values fit in the memory limit.
    fn max_regions(&self, features: usize) -> usize {
        self.memory_limit / (3 * 8 * features.max(1))
    }

    /// Checks that `regions` regions with rows of `features` values fit in the memory limit.
    fn check_memory(&self, regions: usize, features: usize) -> Result<()> {
        if regions > self.max_regions(features) {
            let regions = if regions == usize::MAX {
                format!("more than {}", self.max_regions(features))
            } else {
                regions.to_string()
            };
            return Err(MasoError::SliceMemory {
                regions,
                features,
                limit_mib: self.memory_limit >> 20,
            });
        }
        Ok(())
    }

    fn apply_chain(&self, layers: &[Layer], mut cells: Vec<Cell>) -> Result<Vec<Cell>> {
        for layer in layers {
            cells = self.apply(layer, cells)?;
        }
        Ok(cells)
    }

    fn apply_residual(&self, block: &Residual, mut cells: Vec<Cell>) -> Result<Vec<Cell>> {
        let input_features = block.input_shape().numel();
        for cell in &mut cells {
            cell.stack.push(cell.rows.clone());
        }
        let mut cells = self.apply_chain(&block.body, cells)?;
        for cell in &mut cells {
            let input = cell.stack.pop().expect("the block's input was pushed");
            let body = std::mem::replace(&mut cell.rows, input);
            cell.stack.push(body);
            cell.features = input_features;
        }
        let mut cells = self.apply_chain(&block.skip, cells)?;
        for cell in &mut cells {
            let body = cell.stack.pop().expect("the body's output was pushed");
            for (value, added) in cell.rows.iter_mut().zip(body) {
                *value += added;
            }
        }
        Ok(cells)
    }
}

/// Something that carries `[3, features]` rows of an affine map of the slice coordinates.
trait Rows: Send {
    fn rows(&self) -> &[f64];
    fn set_rows(&mut self, rows: &[f64], features: usize);
}

impl Rows for Cell {
    fn rows(&self) -> &[f64] {
        &self.rows
    }

    fn set_rows(&mut self, rows: &[f64], features: usize) {
        self.rows.clear();
        self.rows.extend_from_slice(rows);
        self.features = features;
    }
}

impl Rows for Region {
    fn rows(&self) -> &[f64] {
        &self.map.rows
    }

    fn set_rows(&mut self, rows: &[f64], features: usize) {
        self.map.rows.clear();
        self.map.rows.extend_from_slice(rows);
        self.map.features = features;
    }
}

/// Applies `y = W x + b` to the rows of every cell with f64 matrix products.
fn apply_linear<T: Rows>(linear: &Linear, cells: &mut [T]) -> Result<()> {
    let weight = read_f64(linear.weight.val())?;
    let bias = match &linear.bias {
        Some(bias) => Some(read_f64(bias.val())?),
        None => None,
    };
    let [outputs, inputs] = linear.weight.dims();
    let cells_per_chunk = (LINEAR_CHUNK_VALUES / (3 * inputs.max(outputs))).max(1);
    cells.par_chunks_mut(cells_per_chunk).for_each(|chunk| {
        let rows = 3 * chunk.len();
        let mut x = Vec::with_capacity(rows * inputs);
        for cell in chunk.iter() {
            x.extend_from_slice(cell.rows());
        }
        let mut y = vec![0.0; rows * outputs];
        // SAFETY: `x` is `[rows, inputs]`, `weight` is `[outputs, inputs]` read as its
        // transpose `[inputs, outputs]`, and `y` is `[rows, outputs]`, all row-major and
        // allocated with exactly these sizes.
        unsafe {
            matrixmultiply::dgemm(
                rows,
                inputs,
                outputs,
                1.0,
                x.as_ptr(),
                inputs as isize,
                1,
                weight.as_ptr(),
                1,
                inputs as isize,
                0.0,
                y.as_mut_ptr(),
                outputs as isize,
                1,
            );
        }
        if let Some(bias) = &bias {
            for row in y.chunks_mut(outputs) {
                for (value, b) in row.iter_mut().zip(bias) {
                    *value += b;
                }
            }
        }
        for (cell, rows) in chunk.iter_mut().zip(y.chunks(3 * outputs)) {
            cell.set_rows(rows, outputs);
        }
    });
    Ok(())
}

/// Applies an affine burn layer to the rows of every cell, in chunks, on `device`.
fn apply_burn(layer: &Layer, mut cells: Vec<Cell>, device: &Device) -> Result<Vec<Cell>> {
    let inputs = layer.input_shape().numel();
    let outputs = layer.output_shape().numel();
    let cells_per_chunk = (CHUNK_VALUES / (3 * inputs.max(outputs))).max(1);
    for chunk in cells.chunks_mut(cells_per_chunk) {
        let rows = 3 * chunk.len();
        let mut values = Vec::with_capacity(rows * inputs);
        for cell in chunk.iter() {
            values.extend_from_slice(&cell.rows);
        }
        let x = Tensor::<2>::from_data(TensorData::new(values, [rows, inputs]), device);
        let piece = layer.select_piece(&x, Mode::Eval);
        let y = read_f64(layer.apply_piece(x, &piece))?;
        for (cell, rows) in chunk.iter_mut().zip(y.chunks(3 * outputs)) {
            cell.rows = rows.to_vec();
            cell.features = outputs;
        }
    }
    Ok(cells)
}

/// Cuts a cell along the zero lines of the units whose input changes sign in it.
///
/// Returns `None` when no unit crosses the cell, and an empty list when the cell would have
/// more than `max_parts` parts.
fn cut_activation(cell: &Cell, min_area: f64, max_parts: usize) -> Option<Vec<Polygon>> {
    let crossing = crossing_units(cell);
    if crossing.is_empty() {
        return None;
    }
    Some(cut_by_lines(cell.polygon.clone(), crossing, min_area, max_parts).unwrap_or_default())
}

/// Creates the cell's parts, each with the slopes selected at its centroid.
fn activate_parts(cell: Cell, polygons: Option<Vec<Polygon>>, negative_slope: f64) -> Vec<Cell> {
    let Some(polygons) = polygons else {
        let centroid = cell.polygon.centroid();
        return vec![apply_slopes(cell, centroid, negative_slope)];
    };
    let last = polygons.len() - 1;
    let mut children = Vec::with_capacity(polygons.len());
    let mut cell = Some(cell);
    for (index, polygon) in polygons.into_iter().enumerate() {
        let centroid = polygon.centroid();
        let child = if index == last {
            let mut cell = cell
                .take()
                .expect("the cell is moved into the last part only");
            cell.polygon = polygon;
            cell
        } else {
            cell.as_ref()
                .expect("the cell is still here")
                .child(polygon)
        };
        children.push(apply_slopes(child, centroid, negative_slope));
    }
    children
}

/// Cuts `polygon` by all `lines` (each with its tolerance), divide and conquer: after each
/// cut, only the lines that still cross a part are passed on to it, so a line is tested only
/// against the parts it is near.
///
/// Returns `None` as soon as there are more than `max_parts` parts.
fn cut_by_lines(
    polygon: Polygon,
    lines: Vec<(Line, f64)>,
    min_area: f64,
    max_parts: usize,
) -> Option<Vec<Polygon>> {
    let mut parts = Vec::new();
    let mut pending = vec![(polygon, lines)];
    while let Some((polygon, mut lines)) = pending.pop() {
        if parts.len() + pending.len() >= max_parts {
            return None;
        }
        let Some((line, tolerance)) = lines.pop() else {
            parts.push(polygon);
            continue;
        };
        let cut = polygon.cut(&line, tolerance, min_area);
        match (cut.negative, cut.positive) {
            (Some(negative), Some(positive)) => {
                for part in [negative, positive] {
                    let crossing = lines
                        .iter()
                        .filter(|(line, tolerance)| {
                            let (low, high) = part.range(line);
                            low < -tolerance && high > *tolerance
                        })
                        .copied()
                        .collect();
                    pending.push((part, crossing));
                }
            }
            (Some(whole), None) | (None, Some(whole)) => pending.push((whole, lines)),
            (None, None) => unreachable!("a cut keeps the polygon on at least one side"),
        }
    }
    Some(parts)
}

/// Returns the line and tolerance of every unit whose input takes both signs, beyond its
/// tolerance, at the vertices of the cell.
fn crossing_units(cell: &Cell) -> Vec<(Line, f64)> {
    let f = cell.features;
    let (p0, rest) = cell.rows.split_at(f);
    let (p1, p2) = rest.split_at(f);
    let mut low = vec![f64::INFINITY; f];
    let mut high = vec![f64::NEG_INFINITY; f];
    // The value at vertex (x, y) is (1 - x - y) p0 + x p1 + y p2: one vectorizable pass per
    // vertex over all units.
    for &[x, y] in cell.polygon.vertices() {
        let w0 = 1.0 - x - y;
        for i in 0..f {
            let value = w0 * p0[i] + x * p1[i] + y * p2[i];
            // Plain comparisons let the loop vectorize, and equal f64::min and max on finite
            // values.
            low[i] = if value < low[i] { value } else { low[i] };
            high[i] = if value > high[i] { value } else { high[i] };
        }
    }
    let radius = cell.polygon.radius();
    (0..f)
        .filter_map(|unit| {
            if low[unit] >= 0.0 || high[unit] <= 0.0 {
                return None;
            }
            let line = cell.line(unit);
            let tolerance = line.tolerance(radius);
            (low[unit] < -tolerance && high[unit] > tolerance).then_some((line, tolerance))
        })
        .collect()
}

/// Appends the sign bits of every unit at `centroid` to the cell's code and multiplies the
/// rows of the units with a non-positive input by `negative_slope`.
fn apply_slopes(mut cell: Cell, centroid: [f64; 2], negative_slope: f64) -> Cell {
    let f = cell.features;
    let [x, y] = centroid;
    for unit in 0..f {
        let a = cell.rows[unit];
        let value = a + x * (cell.rows[f + unit] - a) + y * (cell.rows[2 * f + unit] - a);
        let positive = value > 0.0;
        cell.code.push_sign(positive);
        if !positive {
            cell.rows[unit] *= negative_slope;
            cell.rows[f + unit] *= negative_slope;
            cell.rows[2 * f + unit] *= negative_slope;
        }
    }
    cell
}

/// Flat input-plane positions of each output position's window, in row-major scan order,
/// without padding.
fn pool_windows(pool: &MaxPool2d) -> Vec<Vec<usize>> {
    let window = pool.window();
    let input = pool.input_shape();
    let output = pool.output_shape();
    let mut windows = Vec::with_capacity(output.plane());
    for oh in 0..output.height {
        for ow in 0..output.width {
            let mut positions = Vec::with_capacity(window.kernel[0] * window.kernel[1]);
            for kh in 0..window.kernel[0] {
                for kw in 0..window.kernel[1] {
                    let ih = (oh * window.stride[0] + kh) as isize - window.padding[0] as isize;
                    let iw = (ow * window.stride[1] + kw) as isize - window.padding[1] as isize;
                    let inside = (0..input.height as isize).contains(&ih)
                        && (0..input.width as isize).contains(&iw);
                    if inside {
                        positions.push(ih as usize * input.width + iw as usize);
                    }
                }
            }
            windows.push(positions);
        }
    }
    windows
}

/// Cuts a cell until every window has one argmax in each part, then gathers each part's
/// maxima.
fn cut_max_pool(cell: Cell, pool: &MaxPool2d, windows: &[Vec<usize>], min_area: f64) -> Vec<Cell> {
    let input = pool.input_shape();
    let output = pool.output_shape();
    let (in_plane, out_plane) = (input.plane(), output.plane());
    let candidates = |channel: usize, window: &[usize]| -> Vec<Line> {
        window
            .iter()
            .map(|&position| cell.line(channel * in_plane + position))
            .collect()
    };
    let mut polygons = vec![cell.polygon.clone()];
    for channel in 0..input.channels {
        for window in windows {
            let lines = candidates(channel, window);
            let mut next = Vec::with_capacity(polygons.len());
            for polygon in polygons {
                cut_by_argmax(polygon, &lines, min_area, &mut next);
            }
            polygons = next;
        }
    }
    let out_features = output.numel();
    polygons
        .into_iter()
        .map(|polygon| {
            let centroid = polygon.centroid();
            let radius = polygon.radius();
            let mut code = cell.code.clone();
            let mut rows = vec![0.0; 3 * out_features];
            for channel in 0..input.channels {
                for (position, window) in windows.iter().enumerate() {
                    let lines = candidates(channel, window);
                    let best = window[argmax_at(&lines, centroid, radius)];
                    code.argmax.push(best as u32);
                    let source = channel * in_plane + best;
                    let target = channel * out_plane + position;
                    for k in 0..3 {
                        rows[k * out_features + target] = cell.rows[k * cell.features + source];
                    }
                }
            }
            Cell {
                polygon,
                rows,
                features: out_features,
                stack: cell.stack.clone(),
                code,
                parent: cell.parent,
            }
        })
        .collect()
}
