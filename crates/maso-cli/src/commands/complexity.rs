//! `maso experiment complexity --images NAME`: region counts and local complexity of a network
//! trained on an image data set, after every epoch.

use super::data::DataArgs;
use super::slice::{compute_slice, f64_device};
use crate::plots::{Series, line_plot_svg};
use anyhow::{Context, Result, ensure};
use burn::module::Module;
use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use maso::arch::Architecture;
use maso::data::{Normalization, images_tensor};
use maso::slice::{LocalComplexity, SlicePlane, local_complexity};
use maso::train::{LearningRateSchedule, OptimizerConfig, TrainConfig, Trainer, evaluate};
use maso::{FeatureShape, Network};
use maso_data::Dataset;
use serde::Serialize;
use std::path::Path;

/// Settings of the image-data run, taken from `maso experiment complexity`'s options.
pub struct ImageComplexity<'a> {
    pub data: DataArgs,
    pub arch: &'a str,
    pub train_limit: usize,
    pub epochs: usize,
    pub probes: usize,
    pub radius: f64,
    pub samples: usize,
    pub seed: u64,
    pub memory_limit: usize,
    pub out: &'a Path,
    pub device: Device,
}

#[derive(Serialize)]
struct ImageRecord {
    epoch: usize,
    test_accuracy: f64,
    /// Regions of the full network in the square of half-side `radius` around each of the
    /// three test images that span the slice.
    square_regions: [usize; 3],
    /// Regions meeting the disc of `radius` around each of the three images.
    disc_regions: [usize; 3],
    local_complexity: LocalComplexity,
}

/// Returns the normalized images `indices` of `data` as f64 values, one image after the other.
fn images_f64(data: &Dataset, indices: &[usize], normalization: Normalization) -> Result<Vec<f64>> {
    images_tensor(data, indices, normalization, &Device::flex())
        .into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .map_err(|error| anyhow::anyhow!("reading test images {indices:?} failed: {error:?}"))
}

/// Counts the regions around each of the three images of `plane` (at slice coordinates
/// `centers`) in squares of half-side `radius`, and those meeting the discs of that radius.
fn count_around(
    network: &Network,
    plane: &SlicePlane,
    centers: &[[f64; 2]; 3],
    radius: f64,
    memory_limit: usize,
) -> Result<([usize; 3], [usize; 3])> {
    let mut squares = [0; 3];
    let mut discs = [0; 3];
    for (image, center) in centers.iter().enumerate() {
        let square = SlicePlane::new(
            plane.origin.clone(),
            plane.directions.clone(),
            [center[0] - radius, center[1] - radius],
            [center[0] + radius, center[1] + radius],
        )?;
        let result = compute_slice(network, square, &[network.depth()], false, memory_limit)
            .with_context(|| format!("slicing around test image {image}"))?;
        squares[image] = result.last.len();
        discs[image] = result.last.count_in_disc(*center, radius);
    }
    Ok((squares, discs))
}

/// Trains the network epoch by epoch and records its partition around test images.
pub fn run(settings: &ImageComplexity) -> Result<()> {
    ensure!(settings.epochs > 0, "--image-epochs must be at least 1");
    ensure!(settings.train_limit > 0, "--train-limit must be at least 1");
    let splits = settings.data.load()?;
    let train = splits
        .train
        .take(settings.train_limit.min(splits.train.len()));
    let test = splits.test;
    ensure!(
        test.len() >= 3.max(settings.probes),
        "the test split has {} images; it needs at least 3 and --probes {}",
        test.len(),
        settings.probes
    );
    let normalization = Normalization::PerImage;

    // Slices are exact in f64, so the whole run (training included) uses f64.
    let device = f64_device(settings.device.clone());
    let architecture: Architecture = settings.arch.parse()?;
    let [c, h, w] = train.shape;
    let config = architecture.config(FeatureShape::new(c, h, w), train.num_classes)?;
    let train_device = device.clone().autodiff();
    train_device.seed(settings.seed);
    let network = config.init(&train_device)?.cast_float(FloatDType::F64);
    let train_config = TrainConfig {
        epochs: settings.epochs,
        batch_size: 64,
        optimizer: OptimizerConfig::Adam {
            learning_rate: 1e-3,
        },
        seed: settings.seed,
        balanced: true,
        schedule: LearningRateSchedule::Constant,
        penalty: None,
    };
    let mut trainer = Trainer::new(network, train_config, normalization)?;

    let features = c * h * w;
    let spanning = images_f64(&test, &[0, 1, 2], normalization)?;
    let points: Vec<&[f64]> = spanning.chunks(features).collect();
    let plane = SlicePlane::through([points[0], points[1], points[2]], 0.0)?;
    let centers = [
        plane.project(points[0])?,
        plane.project(points[1])?,
        plane.project(points[2])?,
    ];
    let probe_indices: Vec<usize> = (0..settings.probes).collect();
    let probes = Tensor::<2>::from_data(
        TensorData::new(
            images_f64(&test, &probe_indices, normalization)?,
            [probe_indices.len(), features],
        ),
        &device,
    );

    let mut records = Vec::new();
    for epoch in 0..=settings.epochs {
        if epoch > 0 {
            trainer.run_epoch(&train, &test, &mut |_| {})?;
        }
        let network = trainer.network.valid();
        let (square_regions, disc_regions) = count_around(
            &network,
            &plane,
            &centers,
            settings.radius,
            settings.memory_limit,
        )?;
        let complexity = local_complexity(
            &network,
            probes.clone(),
            settings.radius,
            settings.samples,
            settings.seed + epoch as u64,
        )?;
        let test_accuracy = evaluate(&network, &test, normalization, 256)?.accuracy;
        tracing::info!(
            epoch,
            test_accuracy,
            regions = ?square_regions,
            "recorded"
        );
        records.push(ImageRecord {
            epoch,
            test_accuracy,
            square_regions,
            disc_regions,
            local_complexity: complexity,
        });
        write(settings, &records)?;
    }
    Ok(())
}

fn write(settings: &ImageComplexity, records: &[ImageRecord]) -> Result<()> {
    let out = settings.out;
    std::fs::create_dir_all(out).with_context(|| format!("failed to create {}", out.display()))?;
    crate::output::write_json(&out.join("complexity.json"), &records)?;

    // Columns are named by 1-based top-level layer, as `maso slice --layers` counts; layers
    // without pieces (affine, flatten) change nothing and are left out.
    let coded: Vec<usize> = (0..records[0].local_complexity.layers.len())
        .filter(|&layer| records[0].local_complexity.layers[layer].units > 0)
        .collect();
    let mut csv = String::from("epoch,test_accuracy,square_regions_mean,disc_regions_mean");
    for layer in &coded {
        csv.push_str(&format!(
            ",layer{}_changed,layer{}_changed_se",
            layer + 1,
            layer + 1
        ));
    }
    csv.push('\n');
    for record in records {
        let mean = |counts: &[usize; 3]| counts.iter().sum::<usize>() as f64 / 3.0;
        csv.push_str(&format!(
            "{},{},{},{}",
            record.epoch,
            record.test_accuracy,
            mean(&record.square_regions),
            mean(&record.disc_regions)
        ));
        for &layer in &coded {
            let layer = &record.local_complexity.layers[layer];
            csv.push_str(&format!(",{},{}", layer.mean_changed, layer.standard_error));
        }
        csv.push('\n');
    }
    crate::output::write_atomic(&out.join("complexity.csv"), csv.as_bytes())?;

    let epochs: Vec<f64> = records.iter().map(|record| record.epoch as f64).collect();
    let mean_of = |pick: fn(&ImageRecord) -> &[usize; 3]| -> Vec<f64> {
        records
            .iter()
            .map(|record| pick(record).iter().sum::<usize>() as f64 / 3.0)
            .collect()
    };
    line_plot_svg(
        &out.join("regions.svg"),
        "Regions around three test images during training (mean of 3)",
        "epoch",
        "regions",
        &[
            Series {
                label: "regions in the square".into(),
                x: epochs.clone(),
                y: mean_of(|record| &record.square_regions),
                y_err: None,
            },
            Series {
                label: "regions meeting the disc".into(),
                x: epochs.clone(),
                y: mean_of(|record| &record.disc_regions),
                y_err: None,
            },
        ],
    )?;
    let series: Vec<Series> = coded
        .iter()
        .map(|&layer| Series {
            label: format!("layer {}", layer + 1),
            x: epochs.clone(),
            y: records
                .iter()
                .map(|record| record.local_complexity.layers[layer].mean_changed)
                .collect(),
            y_err: Some(
                records
                    .iter()
                    .map(|record| record.local_complexity.layers[layer].standard_error)
                    .collect(),
            ),
        })
        .collect();
    line_plot_svg(
        &out.join("local-complexity.svg"),
        &format!(
            "Units changing piece in balls of radius {} around {} test images ({} samples each; \
             mean, standard error)",
            settings.radius, settings.probes, settings.samples
        ),
        "epoch",
        "units",
        &series,
    )
}
