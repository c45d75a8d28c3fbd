//! `maso demo`: the main job, end to end on the embedded MNIST subset.

use super::train::train_loop;
use anyhow::Result;
use burn::module::Module;
use burn::tensor::Device;
use maso::AffineOptions;
use maso::FeatureShape;
use maso::arch::Architecture;
use maso::checkpoint::{CHECKPOINT_FORMAT, CheckpointMeta};
use maso::data::Normalization;
use maso::templates::Templates;
use maso::train::{
    LearningRateSchedule, OptimizerConfig, TrainConfig, Trainer, stream_seed, streams,
};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Contents of `summary.json`.
#[derive(Serialize)]
struct Summary {
    architecture: String,
    dataset: String,
    train_images: usize,
    epochs: usize,
    test_accuracy: f64,
    train_seconds: f64,
    images_per_second: f64,
    max_relative_residual: f64,
    examples_checked: usize,
    matched_filter_agreement: f64,
    bias_free_agreement: f64,
    templates_seconds: f64,
    total_seconds: f64,
}

pub fn run(out: &Path, epochs: usize, seed: u64, device: &Device) -> Result<()> {
    let started = Instant::now();
    let splits = maso_data::embedded_mnist();
    let (train, test) = (&splits.train, &splits.test);
    let [c, h, w] = train.shape;
    let architecture = Architecture::SmallCnn;
    let config = architecture.config(FeatureShape::new(c, h, w), train.num_classes)?;

    let device = device.clone().autodiff();
    device.seed(stream_seed(seed, streams::INIT, 0));
    let network = config.init(&device)?;
    let train_config = TrainConfig {
        epochs,
        batch_size: 64,
        optimizer: OptimizerConfig::Adam {
            learning_rate: 2e-3,
        },
        seed,
        balanced: true,
        schedule: LearningRateSchedule::Cosine,
        penalty: None,
    };
    let normalization = Normalization::PerImage;
    let mut meta = CheckpointMeta {
        format: CHECKPOINT_FORMAT,
        train_images: Some(train.len()),
        network: network.config(),
        architecture: Some(architecture.clone()),
        normalization,
        dataset: train.name.clone(),
        train: Some(train_config.clone()),
        history: Vec::new(),
    };
    let mut trainer = Trainer::new(network, train_config, normalization)?;
    tracing::info!(
        "training {architecture} on {} images for {epochs} epochs",
        train.len()
    );
    train_loop(
        &mut trainer,
        &mut meta,
        train,
        test,
        epochs,
        &out.join("checkpoint"),
    )?;
    let last = trainer.history.last().cloned();

    tracing::info!("computing A[x] and b[x] for all {} test images", test.len());
    let templates_started = Instant::now();
    let network = trainer.network.valid();
    let indices: Vec<usize> = (0..test.len()).collect();
    let templates = Templates::compute(
        &network,
        test,
        &indices,
        normalization,
        AffineOptions::default(),
        100,
    )?;
    let templates_seconds = templates_started.elapsed().as_secs_f64();
    let check = templates.summary();
    crate::analysis::write_templates(&out.join("templates"), &templates, test, true)?;

    let summary = Summary {
        architecture: architecture.to_string(),
        dataset: train.name.clone(),
        train_images: train.len(),
        epochs,
        test_accuracy: last.as_ref().map_or(0.0, |m| m.test_accuracy),
        train_seconds: trainer.history.iter().map(|m| m.train_seconds).sum(),
        images_per_second: last.as_ref().map_or(0.0, |m| m.images_per_second),
        max_relative_residual: check.max_relative_residual,
        examples_checked: check.examples_checked,
        matched_filter_agreement: check.matched_filter_agreement,
        bias_free_agreement: check.bias_free_agreement,
        templates_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    };
    crate::output::write_json(&out.join("summary.json"), &summary)?;
    crate::output::write_atomic(&out.join("report.md"), report(&summary).as_bytes())?;
    crate::output::print_json(&summary, true)?;
    tracing::info!("wrote {}", out.join("report.md").display());
    Ok(())
}

fn report(s: &Summary) -> String {
    format!(
        "# maso demo\n\n\
         A {arch} trained for {epochs} epochs on {train} embedded MNIST images reaches \
         **{acc:.2}%** test accuracy on the 1,000 embedded test images \
         ({ips:.0} images/s in training).\n\n\
         ## Exactness of the spline view\n\n\
         For every test image x, `A[x]` comes from one batched pullback per class and `b[x]` from \
         the selected affine pieces applied to zero, and `A[x] x + b[x]` is compared with the \
         forward pass computed by burn's own layer ops.\n\n\
         | quantity | value |\n|---|---|\n\
         | examples checked | {n} |\n\
         | max relative residual, max over examples of \\|A x + b - f(x)\\|_inf / max(1, \\|f(x)\\|_inf) | {res:.2e} |\n\
         | matched filter `argmax_c <A_c[x], x> + b_c[x]` agrees with the prediction | {mf:.2}% |\n\
         | bias-free rule `argmax_c <A_c[x], x>` agrees with the prediction | {bf:.2}% |\n\
         | time for A[x], b[x] of all test images | {ts:.1} s |\n\n\
         ## Templates\n\n\
         Each row is one test image followed by its ten class templates `A_c[x]` \
         (red positive, blue negative, white zero, each scaled to its own maximum). \
         The black frame marks the predicted class and the green frame the true class.\n\n\
         ![templates](templates/templates.png)\n\n\
         All templates are in `templates/templates.npy` (`[N, classes, 1, 28, 28]`), with \
         `offsets.npy`, `logits.npy`, `inputs.npy`, `labels.npy` and `predictions.npy` beside it; \
         the trained network is in `checkpoint/`.\n",
        arch = s.architecture,
        epochs = s.epochs,
        train = s.train_images,
        acc = 100.0 * s.test_accuracy,
        ips = s.images_per_second,
        n = s.examples_checked,
        res = s.max_relative_residual,
        mf = 100.0 * s.matched_filter_agreement,
        bf = 100.0 * s.bias_free_agreement,
        ts = s.templates_seconds,
    )
}
