//! `maso experiment toy-partition` and `maso experiment complexity`: input-space partitions of
//! small MLPs on 2-D toy data, at initialization and while training.

use super::slice::{ColorBy, boundary_length, compute_slice, f64_device, partition_panel};
use crate::DeviceArgs;
use crate::plots::{Series, line_plot_svg};
use crate::slice_figure::{CLASS_COLORS, Figure, Marker};
use anyhow::{Context, Result, ensure};
use burn::module::Module;
use burn::tensor::{Device, FloatDType};
use clap::{Args, ValueEnum};
use maso::Network;
use maso::checkpoint::{CHECKPOINT_FORMAT, CheckpointMeta, save_checkpoint};
use maso::data::Normalization;
use maso::layer::ActivationKind;
use maso::slice::{LocalComplexity, SlicePlane, local_complexity};
use maso::toy::{ToyKind, ToySet, accuracy, toy_mlp, train_full_batch};
use serde::Serialize;
use std::ops::ControlFlow;
use std::path::PathBuf;

/// Toy data set of the command line.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ToyData {
    /// Two interleaved half circles, 2 classes.
    Moons,
    /// Two concentric circles, 2 classes.
    Circles,
    /// Two moons and two circles side by side, 4 classes.
    MoonsCircles,
}

/// Activation of the toy MLP.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ToyActivation {
    Relu,
    /// Leaky ReLU with slope 0.1.
    LeakyRelu,
    Abs,
}

/// Options shared by the toy experiments.
#[derive(Args, Debug, Clone)]
pub struct ToyArgs {
    /// 2-D data set.
    #[arg(long, value_enum, default_value_t = ToyData::Moons)]
    pub data: ToyData,
    /// Activation of both hidden layers.
    #[arg(long, value_enum, default_value_t = ToyActivation::Relu)]
    pub activation: ToyActivation,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 16)]
    pub width: usize,
    /// Training points.
    #[arg(long, default_value_t = 400)]
    pub points: usize,
    /// Standard deviation of the Gaussian noise added to the points.
    #[arg(long, default_value_t = 0.08)]
    pub noise: f64,
    /// Full-batch Adam steps.
    #[arg(long, default_value_t = 600)]
    pub epochs: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// Seed of the data and the initialization.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl ToyArgs {
    fn kind(&self) -> ToyKind {
        match self.data {
            ToyData::Moons => ToyKind::Moons,
            ToyData::Circles => ToyKind::Circles,
            ToyData::MoonsCircles => ToyKind::MoonsCircles,
        }
    }

    fn activation_kind(&self) -> ActivationKind {
        match self.activation {
            ToyActivation::Relu => ActivationKind::Relu,
            ToyActivation::LeakyRelu => ActivationKind::LeakyRelu { slope: 0.1 },
            ToyActivation::Abs => ActivationKind::Abs,
        }
    }

    /// Builds the data, the input plane around it and an untrained network on an f64
    /// autodiff device.
    fn setup(&self) -> Result<(ToySet, SlicePlane, Network, Device)> {
        ensure!(self.width > 0, "--width must be at least 1");
        ensure!(self.points > 0, "--points must be at least 1");
        let device = f64_device(self.device.device()?);
        let set = ToySet::generate(self.kind(), self.points, self.noise, self.seed);
        let (min, max) = set.bounds(0.3);
        let plane = SlicePlane::input_plane(min, max)?;
        let autodiff = device.clone().autodiff();
        autodiff.seed(self.seed);
        let network = toy_mlp(self.width, self.activation_kind(), set.classes).init(&autodiff)?;
        Ok((set, plane, network, device))
    }
}

#[derive(Args, Debug)]
pub struct ToyPartitionArgs {
    #[command(flatten)]
    pub toy: ToyArgs,
}

#[derive(Serialize)]
struct ToySummary {
    data: String,
    activation: String,
    width: usize,
    epochs: usize,
    accuracy_init: f64,
    accuracy_trained: f64,
    /// Regions after hidden layer 1 and 2, at initialization and after training.
    regions_init: [usize; 2],
    regions_trained: [usize; 2],
    boundary_length_init: f64,
    boundary_length_trained: f64,
    /// The plotted rectangle `u1_min, u1_max, u2_min, u2_max`, to pass to
    /// `maso slice --input-plane --extent=...` for the same view.
    extent: [f64; 4],
}

/// Depths of the partitions after hidden layer 1 and hidden layer 2 of the toy MLP.
const HIDDEN_DEPTHS: [usize; 2] = [2, 4];

/// `maso experiment toy-partition`.
pub fn run_toy_partition(args: &ToyPartitionArgs) -> Result<()> {
    let toy = &args.toy;
    let (set, plane, network, _) = toy.setup()?;
    let markers: Vec<Marker> = set
        .points
        .iter()
        .zip(&set.labels)
        .map(|(&at, &label)| Marker {
            at,
            color: CLASS_COLORS[label % CLASS_COLORS.len()],
        })
        .collect();
    let initial = network.valid();
    let accuracy_init = accuracy(&initial, &set);
    let before = compute_slice(&initial, plane.clone(), &HIDDEN_DEPTHS, true, usize::MAX)?;
    let trained = train_full_batch(network, &set, toy.epochs, toy.lr, &mut |epoch, loss, _| {
        if epoch % 100 == 0 {
            tracing::info!(epoch, loss, "trained");
        }
        ControlFlow::Continue(())
    })?
    .valid();
    let accuracy_trained = accuracy(&trained, &set);
    let extent = [
        plane.extent_min[0],
        plane.extent_max[0],
        plane.extent_min[1],
        plane.extent_max[1],
    ];
    let after = compute_slice(&trained, plane, &HIDDEN_DEPTHS, true, usize::MAX)?;

    let mut panels = Vec::new();
    for (stage, result) in [("initialization", &before), ("trained", &after)] {
        for (layer, partition) in result.chosen.iter().enumerate() {
            let title = format!("layer {}, {stage}: {} regions", layer + 1, partition.len());
            panels.push(partition_panel(
                title,
                partition,
                &result.cells,
                &result.boundary,
                ColorBy::Code,
                &markers,
            ));
        }
    }
    std::fs::create_dir_all(&toy.out)
        .with_context(|| format!("cannot create {}", toy.out.display()))?;
    let figure = Figure {
        panels,
        columns: 2,
        size: 500,
    };
    figure.write_png(&toy.out.join("toy-partition.png"))?;
    figure.write_svg(&toy.out.join("toy-partition.svg"))?;
    let summary = ToySummary {
        data: format!("{:?}", toy.data),
        activation: format!("{:?}", toy.activation),
        width: toy.width,
        epochs: toy.epochs,
        accuracy_init,
        accuracy_trained,
        regions_init: [before.chosen[0].len(), before.chosen[1].len()],
        regions_trained: [after.chosen[0].len(), after.chosen[1].len()],
        boundary_length_init: boundary_length(&before.boundary),
        boundary_length_trained: boundary_length(&after.boundary),
        extent,
    };
    crate::output::write_json(&toy.out.join("summary.json"), &summary)?;
    // The trained network as a checkpoint, for `maso slice --input-plane`.
    let meta = CheckpointMeta {
        format: CHECKPOINT_FORMAT,
        network: trained.config(),
        architecture: None,
        normalization: Normalization::Unit,
        dataset: format!("toy-{:?}", toy.data).to_lowercase(),
        train_images: Some(set.len()),
        train: None,
        history: Vec::new(),
    };
    save_checkpoint(&toy.out.join("checkpoint"), &trained, &meta, None)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

#[derive(Args, Debug)]
pub struct ComplexityArgs {
    #[command(flatten)]
    pub toy: ToyArgs,
    /// Record every N epochs (and at initialization).
    #[arg(long, default_value_t = 50)]
    pub every: usize,
    /// Training points around which disc counts and local complexity are measured.
    #[arg(long, default_value_t = 50)]
    pub probes: usize,
    /// Radius of the discs (slice counts) and balls (local complexity), in input units.
    #[arg(long, default_value_t = 0.1)]
    pub radius: f64,
    /// Random points per ball for the local complexity.
    #[arg(long, default_value_t = 64)]
    pub samples: usize,
    /// Track a network trained on this image data set (mnist-embedded, mnist, fashion-mnist)
    /// instead of the toy MLP: regions around three test images in the plane through them,
    /// and local complexity around the first --probes test images.
    #[arg(long, help_heading = "Image data")]
    pub images: Option<String>,
    /// Cache directory of fetched data sets [default: $MASO_CACHE, else ~/.cache/maso].
    #[arg(long, help_heading = "Image data")]
    pub cache: Option<PathBuf>,
    /// Architecture trained on --images: mlp, small-cnn, large-cnn or resnet.
    #[arg(long, default_value = "mlp", help_heading = "Image data")]
    pub image_arch: String,
    /// Training images used from --images.
    #[arg(long, default_value_t = 5000, help_heading = "Image data")]
    pub train_limit: usize,
    /// Training epochs on --images.
    #[arg(long, default_value_t = 5, help_heading = "Image data")]
    pub image_epochs: usize,
    /// Memory limit of one slice around a test image, in MiB.
    #[arg(long, default_value_t = 4096, help_heading = "Image data")]
    pub max_memory_mib: usize,
}

#[derive(Serialize)]
struct ComplexityRecord {
    epoch: usize,
    loss: f64,
    accuracy: f64,
    /// Regions of the input plane after hidden layers 1 and 2.
    regions: [usize; 2],
    /// Mean number of regions (after hidden layer 2) meeting the disc around a probe point.
    mean_disc_regions: f64,
    /// Standard error of `mean_disc_regions` over the probe points.
    disc_standard_error: f64,
    local_complexity: LocalComplexity,
}

/// `maso experiment complexity`: the toy MLP on 2-D data, or a network trained on images.
pub fn run_complexity(args: &ComplexityArgs) -> Result<()> {
    let toy = &args.toy;
    if let Some(images) = &args.images {
        return super::complexity::run(&super::complexity::ImageComplexity {
            data: super::data::DataArgs {
                data: images.clone(),
                cache: args.cache.clone(),
            },
            arch: &args.image_arch,
            train_limit: args.train_limit,
            epochs: args.image_epochs,
            probes: args.probes,
            radius: args.radius,
            samples: args.samples,
            seed: toy.seed,
            memory_limit: args.max_memory_mib.saturating_mul(1 << 20),
            out: &toy.out,
            device: toy.device.device()?,
        });
    }
    ensure!(args.every > 0, "--every must be at least 1");
    let (set, plane, network, device) = toy.setup()?;
    let probes = args.probes.clamp(1, set.len());
    let probe_set = ToySet {
        points: set.points[..probes].to_vec(),
        labels: set.labels[..probes].to_vec(),
        classes: set.classes,
    };
    let mut records = Vec::new();
    let mut measure = |epoch: usize, loss: f64, network: &Network| -> Result<()> {
        let network = network.valid().cast_float(FloatDType::F64);
        let result = compute_slice(&network, plane.clone(), &HIDDEN_DEPTHS, false, usize::MAX)?;
        let last = &result.chosen[1];
        let disc: Vec<f64> = probe_set
            .points
            .iter()
            .map(|&point| last.count_in_disc(point, args.radius) as f64)
            .collect();
        let (mean_disc_regions, disc_standard_error) = mean_and_error(&disc);
        let complexity = local_complexity(
            &network,
            probe_set.inputs(&device),
            args.radius,
            args.samples,
            toy.seed + epoch as u64,
        )?;
        let record = ComplexityRecord {
            epoch,
            loss,
            accuracy: accuracy(&network, &set),
            regions: [result.chosen[0].len(), last.len()],
            mean_disc_regions,
            disc_standard_error,
            local_complexity: complexity,
        };
        tracing::info!(
            epoch,
            regions = record.regions[1],
            disc = record.mean_disc_regions,
            "recorded"
        );
        records.push(record);
        Ok(())
    };
    measure(0, f64::NAN, &network)?;
    let every = args.every;
    let mut failure = None;
    train_full_batch(
        network,
        &set,
        toy.epochs,
        toy.lr,
        &mut |epoch, loss, network| {
            let recorded = epoch % every == 0 || epoch == toy.epochs;
            if recorded && let Err(error) = measure(epoch, loss, network) {
                failure = Some(error);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        },
    )?;
    if let Some(error) = failure {
        return Err(error.context("measuring the partition during training failed"));
    }
    write_complexity(&toy.out, &records)
}

fn write_complexity(out: &std::path::Path, records: &[ComplexityRecord]) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    crate::output::write_json(&out.join("complexity.json"), &records)?;
    let mut csv = String::from(
        "epoch,loss,accuracy,regions_layer1,regions_layer2,mean_disc_regions,disc_standard_error,\
         local_complexity_layer2,local_complexity_layer2_se,local_complexity_layer4,local_complexity_layer4_se\n",
    );
    for record in records {
        let layers = &record.local_complexity.layers;
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            record.epoch,
            record.loss,
            record.accuracy,
            record.regions[0],
            record.regions[1],
            record.mean_disc_regions,
            record.disc_standard_error,
            layers[1].mean_changed,
            layers[1].standard_error,
            layers[3].mean_changed,
            layers[3].standard_error,
        ));
    }
    crate::output::write_atomic(&out.join("complexity.csv"), csv.as_bytes())?;
    let epochs: Vec<f64> = records.iter().map(|r| r.epoch as f64).collect();
    let regions = |layer: usize| Series {
        label: format!("regions after hidden layer {}", layer + 1),
        x: epochs.clone(),
        y: records.iter().map(|r| r.regions[layer] as f64).collect(),
        y_err: None,
    };
    line_plot_svg(
        &out.join("regions.svg"),
        "Regions of the input plane during training",
        "epoch",
        "regions",
        &[regions(0), regions(1)],
    )?;
    let complexity = |layer: usize, label: &str| Series {
        label: label.to_string(),
        x: epochs.clone(),
        y: records
            .iter()
            .map(|r| r.local_complexity.layers[layer].mean_changed)
            .collect(),
        y_err: Some(
            records
                .iter()
                .map(|r| r.local_complexity.layers[layer].standard_error)
                .collect(),
        ),
    };
    let disc = Series {
        label: "regions meeting the disc".into(),
        x: epochs.clone(),
        y: records.iter().map(|r| r.mean_disc_regions).collect(),
        y_err: Some(records.iter().map(|r| r.disc_standard_error).collect()),
    };
    line_plot_svg(
        &out.join("local-complexity.svg"),
        "Local complexity around training points (mean, standard error)",
        "epoch",
        "units changing piece / regions",
        &[
            complexity(1, "units changing piece, hidden layer 1"),
            complexity(3, "units changing piece, hidden layer 2"),
            disc,
        ],
    )?;
    println!(
        "wrote {} records to {}",
        records.len(),
        out.join("complexity.csv").display()
    );
    Ok(())
}

fn mean_and_error(values: &[f64]) -> (f64, f64) {
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1.0);
    (mean, (variance / count).sqrt())
}
