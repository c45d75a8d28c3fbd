//! `maso slice`: the exact partition of a 2-D slice of input space, layer by layer, with the
//! decision boundary, as PNG, SVG and region statistics.

use super::data::DataArgs;
use super::eval::Split;
use crate::DeviceArgs;
use crate::model::ModelArgs;
use crate::slice_figure::{CLASS_COLORS, Figure, Marker, Panel, class_fill, hashed_color};
use anyhow::{Context, Result, bail, ensure};
use burn::tensor::{Device, FloatDType};
use clap::{Args, ValueEnum};
use maso::Network;
use maso::slice::{BoundarySegment, ClassCell, Partition, PartitionStats, SlicePlane, Slicer};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct SliceArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Split that the --through examples come from.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Slice through three examples (indices into the split, comma-separated), with
    /// orthonormal directions so that lengths and areas are those of input space.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["input_plane", "plane"])]
    pub through: Vec<usize>,
    /// Slice the input plane itself (networks with 2 inputs).
    #[arg(long, conflicts_with = "plane")]
    pub input_plane: bool,
    /// .npy file with a [3, inputs] float32 or float64 array: the origin and the two
    /// directions, in the network's (normalized) input space.
    #[arg(long)]
    pub plane: Option<PathBuf>,
    /// Slice rectangle `u1_min,u1_max,u2_min,u2_max` in slice coordinates [default: the three
    /// examples' bounding box widened by --margin for --through, else -1,1,-1,1].
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub extent: Vec<f64>,
    /// Margin around the three examples of --through, as a fraction of the larger side of their
    /// bounding box.
    #[arg(long, default_value_t = 0.25)]
    pub margin: f64,
    /// Top-level layers after which the partition is drawn, comma-separated (1 = after the
    /// first layer of model.json) [default: the last layer].
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<usize>,
    /// Fill colour of the regions: a hash of the region code, or the top class.
    #[arg(long, value_enum, default_value_t = ColorBy::Code)]
    pub color: ColorBy,
    /// Size of each panel, in pixels.
    #[arg(long, default_value_t = 800)]
    pub size: u32,
    /// Check the partition's invariants (tiling, convexity, codes and maps at centroids
    /// against the forward pass) after every layer.
    #[arg(long)]
    pub check: bool,
    /// Also count, for each --through example, the regions after each drawn layer that meet the
    /// disc of this radius around it (input units, in the slice plane).
    #[arg(long)]
    pub disc_radius: Option<f64>,
    /// Memory that the regions' affine maps may take (3 f64 rows per region), in MiB. A layer
    /// that needs more stops the slice with an error: shrink --extent then.
    #[arg(long, default_value_t = 4096)]
    pub max_memory_mib: usize,
    /// Output directory for partition.png, partition.svg and regions.json.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Fill colour of the regions in a picture.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorBy {
    /// A colour per region code.
    Code,
    /// The colour of the class with the top logit.
    Class,
}

/// Everything a slice computes: the partitions after the chosen layers and after the last,
/// and the decision boundary.
pub struct SliceResult {
    pub chosen: Vec<Partition>,
    pub last: Partition,
    pub cells: Vec<ClassCell>,
    pub boundary: Vec<BoundarySegment>,
    pub seconds: f64,
}

/// Returns `device` configured for f64, so that the forward passes and burn layers of a slice
/// are exact to f64 rounding. Falls back to the device's default type with a warning.
pub fn f64_device(device: Device) -> Device {
    let mut device = device;
    if let Err(error) = device.configure(FloatDType::F64) {
        tracing::warn!(
            "could not switch the device to f64 ({error:?}); slicing in its default float type"
        );
    }
    device
}

/// Computes the partitions after each of `layers` and after the network's last layer, and
/// the decision boundary. With `check`, verifies the invariants after every layer.
pub fn compute_slice(
    network: &Network,
    plane: SlicePlane,
    layers: &[usize],
    check: bool,
    memory_limit: usize,
) -> Result<SliceResult> {
    for &layer in layers {
        network.check_depth(layer)?;
    }
    let start = Instant::now();
    let mut slicer = Slicer::new(network, plane)?.with_memory_limit(memory_limit);
    let mut chosen = Vec::with_capacity(layers.len());
    for depth in 1..=network.depth() {
        let partition = slicer.step()?;
        tracing::info!(
            layer = depth,
            kind = network.layers[depth - 1].kind(),
            regions = partition.len(),
            "sliced"
        );
        if check {
            partition
                .check_invariants(network)
                .with_context(|| format!("after layer {depth}"))?;
        }
        if layers.contains(&depth) {
            chosen.push(partition.clone());
        }
    }
    let last = slicer.into_partition();
    let cells = last.class_cells();
    let boundary = last.decision_boundary(&cells);
    let seconds = start.elapsed().as_secs_f64();
    Ok(SliceResult {
        chosen,
        last,
        cells,
        boundary,
        seconds,
    })
}

/// Builds the panel of `partition`: its regions filled by code, or the class cells of the
/// last partition filled by class, its edges, the decision boundary and the markers.
pub fn partition_panel(
    title: String,
    partition: &Partition,
    result_cells: &[ClassCell],
    boundary: &[BoundarySegment],
    color: ColorBy,
    markers: &[Marker],
) -> Panel {
    let fills = match color {
        ColorBy::Code => partition
            .regions
            .iter()
            .map(|region| (region.polygon.clone(), hashed_color(&region.codes)))
            .collect(),
        ColorBy::Class => result_cells
            .iter()
            .map(|cell| (cell.polygon.clone(), class_fill(cell.class)))
            .collect(),
    };
    Panel {
        title,
        min: partition.plane.extent_min,
        max: partition.plane.extent_max,
        fills,
        edges: partition
            .regions
            .iter()
            .map(|region| region.polygon.clone())
            .collect(),
        boundary: boundary.to_vec(),
        markers: markers.to_vec(),
    }
}

/// Total length of the decision boundary segments.
pub fn boundary_length(boundary: &[BoundarySegment]) -> f64 {
    boundary
        .iter()
        .map(|s| (s.end[0] - s.start[0]).hypot(s.end[1] - s.start[1]))
        .fold(0.0, |total, length| total + length)
}

#[derive(Serialize)]
struct Report {
    model: PathBuf,
    extent_min: [f64; 2],
    extent_max: [f64; 2],
    /// Slice coordinates and labels of the --through examples.
    inputs: Vec<MarkedInput>,
    seconds: f64,
    layers: Vec<LayerReport>,
    decision_boundary: BoundaryReport,
}

#[derive(Serialize)]
struct MarkedInput {
    index: usize,
    label: usize,
    u: [f64; 2],
    /// Regions after each drawn layer that meet the disc of --disc-radius around the input.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    disc_regions: Vec<usize>,
}

#[derive(Serialize)]
struct LayerReport {
    layer: usize,
    kind: &'static str,
    #[serde(flatten)]
    stats: PartitionStats,
}

#[derive(Serialize)]
struct BoundaryReport {
    segments: usize,
    length: f64,
    class_cells: usize,
    /// Area of the slice on which each class has the top logit.
    class_areas: Vec<f64>,
}

pub fn run(args: &SliceArgs) -> Result<()> {
    let device = f64_device(args.device.device()?);
    let (network, meta) = args.model.load(&device)?;
    let network = network.cast_float(FloatDType::F64);
    let (plane, inputs) = plane_from_args(args, &network, meta.normalization)?;
    let layers = if args.layers.is_empty() {
        vec![network.depth()]
    } else {
        args.layers.clone()
    };
    let memory_limit = args
        .max_memory_mib
        .checked_mul(1 << 20)
        .with_context(|| format!("--max-memory-mib {} is too large", args.max_memory_mib))?;
    let result =
        compute_slice(&network, plane, &layers, args.check, memory_limit).map_err(|error| {
            let memory = matches!(
                error.downcast_ref::<maso::MasoError>(),
                Some(maso::MasoError::SliceMemory { .. })
            );
            if memory {
                error.context(
                    "the slice is too large: pass a smaller --extent or a larger --max-memory-mib",
                )
            } else {
                error
            }
        })?;
    let mut inputs = inputs;
    if let Some(radius) = args.disc_radius {
        ensure!(
            radius.is_finite() && radius > 0.0,
            "--disc-radius must be finite and positive, got {radius}"
        );
        for input in &mut inputs {
            input.disc_regions = result
                .chosen
                .iter()
                .map(|partition| partition.count_in_disc(input.u, radius))
                .collect();
        }
    }
    let markers: Vec<Marker> = inputs
        .iter()
        .map(|input| Marker {
            at: input.u,
            color: CLASS_COLORS[input.label % CLASS_COLORS.len()],
        })
        .collect();
    let panels = result
        .chosen
        .iter()
        .map(|partition| {
            let title = format!(
                "after layer {} ({}): {} regions",
                partition.depth,
                network.layers[partition.depth - 1].kind(),
                partition.len()
            );
            partition_panel(
                title,
                partition,
                &result.cells,
                &result.boundary,
                args.color,
                &markers,
            )
        })
        .collect();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let figure = Figure {
        panels,
        columns: 3,
        size: args.size,
    };
    figure.write_png(&args.out.join("partition.png"))?;
    figure.write_svg(&args.out.join("partition.svg"))?;

    let classes = network.output_shape().numel();
    let mut class_areas = vec![0.0; classes];
    for cell in &result.cells {
        class_areas[cell.class] += cell.polygon.area();
    }
    let report = Report {
        model: args.model.model.clone(),
        extent_min: result.last.plane.extent_min,
        extent_max: result.last.plane.extent_max,
        inputs,
        seconds: result.seconds,
        layers: result
            .chosen
            .iter()
            .map(|partition| LayerReport {
                layer: partition.depth,
                kind: network.layers[partition.depth - 1].kind(),
                stats: partition.stats(),
            })
            .collect(),
        decision_boundary: BoundaryReport {
            segments: result.boundary.len(),
            length: boundary_length(&result.boundary),
            class_cells: result.cells.len(),
            class_areas,
        },
    };
    crate::output::write_json(&args.out.join("regions.json"), &report)?;
    for layer in &report.layers {
        println!(
            "layer {:>2} ({}): {} regions",
            layer.layer, layer.kind, layer.stats.regions
        );
    }
    println!(
        "{} regions after the last layer, decision boundary length {:.4}, {:.2} s; wrote {}",
        result.last.len(),
        report.decision_boundary.length,
        result.seconds,
        args.out.display()
    );
    Ok(())
}

fn plane_from_args(
    args: &SliceArgs,
    network: &Network,
    normalization: maso::data::Normalization,
) -> Result<(SlicePlane, Vec<MarkedInput>)> {
    let extent = match args.extent.as_slice() {
        [] => None,
        [a, b, c, d] => Some(([*a, *c], [*b, *d])),
        other => bail!("--extent takes 4 values, got {}", other.len()),
    };
    if !args.through.is_empty() {
        ensure!(
            args.through.len() == 3,
            "--through takes exactly 3 example indices, got {}",
            args.through.len()
        );
        let data = args.split.select(args.data.load()?);
        let mut points = Vec::with_capacity(3);
        for &index in &args.through {
            ensure!(
                index < data.len(),
                "--through index {index} is out of range: the split has {} examples",
                data.len()
            );
            let mut values = Vec::new();
            normalization.apply(data.image(index), &mut values);
            points.push(values.into_iter().map(f64::from).collect::<Vec<f64>>());
        }
        let mut plane = SlicePlane::through([&points[0], &points[1], &points[2]], args.margin)
            .with_context(|| {
                format!(
                    "examples {:?} of the {} split do not span a plane; choose three different, \
                     non-collinear examples",
                    args.through, data.name
                )
            })?;
        if let Some((min, max)) = extent {
            plane = SlicePlane::new(plane.origin, plane.directions, min, max)?;
        }
        let inputs = args
            .through
            .iter()
            .zip(&points)
            .map(|(&index, point)| {
                Ok(MarkedInput {
                    index,
                    label: data.labels[index] as usize,
                    u: plane.project(point)?,
                    disc_regions: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for input in &inputs {
            let inside = (0..2).all(|axis| {
                (plane.extent_min[axis]..=plane.extent_max[axis]).contains(&input.u[axis])
            });
            if !inside {
                tracing::warn!(
                    "example {} lies outside the slice rectangle, at u = ({:.3}, {:.3}); the \
                     rectangle is [{:.3}, {:.3}] x [{:.3}, {:.3}] around the mean of the three \
                     examples, so it is not drawn and its disc counts are 0",
                    input.index,
                    input.u[0],
                    input.u[1],
                    plane.extent_min[0],
                    plane.extent_max[0],
                    plane.extent_min[1],
                    plane.extent_max[1]
                );
            }
        }
        return Ok((plane, inputs));
    }
    let (min, max) = extent.unwrap_or(([-1.0, -1.0], [1.0, 1.0]));
    if let Some(path) = &args.plane {
        let (values, shape) = read_npy_f64(path)?;
        let inputs = network.input_shape().numel();
        ensure!(
            shape == [3, inputs as u64],
            "{} has shape {shape:?}; expected [3, {inputs}] (origin and two directions)",
            path.display()
        );
        let rows: Vec<Vec<f64>> = values.chunks(inputs).map(<[f64]>::to_vec).collect();
        let plane = SlicePlane::new(
            rows[0].clone(),
            [rows[1].clone(), rows[2].clone()],
            min,
            max,
        )?;
        return Ok((plane, Vec::new()));
    }
    if args.input_plane {
        let inputs = network.input_shape().numel();
        ensure!(
            inputs == 2,
            "--input-plane needs a network with 2 inputs, and this one has {inputs}; slice it \
             with --through I,J,K or --plane FILE.npy"
        );
        return Ok((SlicePlane::input_plane(min, max)?, Vec::new()));
    }
    bail!("choose a slice with --through I,J,K, --input-plane or --plane FILE.npy")
}

/// Reads a float32 or float64 .npy array as f64 values and its shape.
fn read_npy_f64(path: &Path) -> Result<(Vec<f64>, Vec<u64>)> {
    let open = || -> Result<npyz::NpyFile<std::io::BufReader<std::fs::File>>> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        npyz::NpyFile::new(std::io::BufReader::new(file))
            .with_context(|| format!("{} is not a valid .npy file", path.display()))
    };
    let npy = open()?;
    let shape = npy.shape().to_vec();
    if let Ok(values) = npy.into_vec::<f64>() {
        return Ok((values, shape));
    }
    let values = open()?
        .into_vec::<f32>()
        .with_context(|| format!("{} must hold float32 or float64 values", path.display()))?;
    Ok((values.into_iter().map(f64::from).collect(), shape))
}
