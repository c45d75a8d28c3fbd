//! Measures the time of one SmallCNN training step (batch 128, 10 classes) without the
//! orthogonal-template penalty and with each way of computing it, and the relative standard
//! deviation of the two estimators against the exact penalty on one batch.
//!
//! Run: `cargo run --release -p maso --example penalty_step [batch] [steps]`.
//! Inputs are random normal values with random labels; SGD with momentum 0.9.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor};
use maso::arch::Architecture;
use maso::penalty::{PenaltyEstimator, template_penalty};
use maso::train::{OptimizerConfig, cross_entropy};
use maso::{FeatureShape, Mode, Network};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;

fn step_seconds(
    network: &mut Network,
    estimator: Option<PenaltyEstimator>,
    batch: usize,
    steps: usize,
    device: &Device,
) -> f64 {
    let mut optimizer = OptimizerConfig::Sgd {
        learning_rate: 0.01,
        momentum: 0.9,
    }
    .init();
    let mut rng = StdRng::seed_from_u64(0);
    let mut samples = Vec::new();
    for step in 0..steps + 2 {
        let start = Instant::now();
        let x = Tensor::<2>::random([batch, 784], Distribution::Normal(0.0, 1.0), device);
        let labels = Tensor::<1, Int>::random([batch], Distribution::Uniform(0.0, 10.0), device);
        let (logits, pieces) = network.forward_pieces(x, Mode::Train, network.depth());
        let mut loss = cross_entropy(logits, labels);
        if let Some(estimator) = estimator {
            loss = loss + template_penalty(network, &pieces, batch, estimator, &mut rng);
        }
        drop(pieces);
        let grads = GradientsParams::from_grads(loss.backward(), &*network);
        let current = std::mem::replace(network, network.clone());
        *network = optimizer.step(0.01, current, grads);
        let _ = network.layers.len();
        // The first two steps warm up the allocator and thread pool.
        if step >= 2 {
            samples.push(start.elapsed().as_secs_f64());
        }
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() -> Result<(), maso::MasoError> {
    let mut args = std::env::args().skip(1);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(128);
    let steps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut network = Architecture::SmallCnn
        .config(FeatureShape::new(1, 28, 28), 10)?
        .init(&device)?;

    let plain = step_seconds(&mut network, None, batch, steps, &device);
    println!(
        "{{\"method\": \"cross-entropy only\", \"batch\": {batch}, \"step_seconds\": {plain:.4}, \"ratio\": 1.0}}"
    );
    let estimators = [
        ("exact", PenaltyEstimator::Exact),
        ("pairs 1", PenaltyEstimator::Pairs { pairs: 1 }),
        ("rademacher 1", PenaltyEstimator::Rademacher { probes: 1 }),
        ("rademacher 2", PenaltyEstimator::Rademacher { probes: 2 }),
    ];
    for (name, estimator) in estimators {
        let seconds = step_seconds(&mut network, Some(estimator), batch, steps, &device);
        println!(
            "{{\"method\": \"{name}\", \"batch\": {batch}, \"step_seconds\": {seconds:.4}, \"ratio\": {:.2}}}",
            seconds / plain
        );
    }

    // Spread of the estimators on one batch of the (briefly trained) network, in eval mode.
    let eval = network.valid();
    let eval_device = Device::flex();
    let x = Tensor::<2>::random([batch, 784], Distribution::Normal(0.0, 1.0), &eval_device);
    let (_, pieces) = eval.forward_pieces(x, Mode::Eval, eval.depth());
    let mut rng = StdRng::seed_from_u64(1);
    let exact = template_penalty(&eval, &pieces, batch, PenaltyEstimator::Exact, &mut rng)
        .into_scalar::<f64>();
    for (name, estimator) in estimators.into_iter().skip(1) {
        let draws: Vec<f64> = (0..50)
            .map(|_| {
                template_penalty(&eval, &pieces, batch, estimator, &mut rng).into_scalar::<f64>()
            })
            .collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (draws.len() - 1) as f64;
        println!(
            "{{\"estimator\": \"{name}\", \"batch\": {batch}, \"exact\": {exact:.6e}, \"mean_of_50\": {mean:.6e}, \"relative_std\": {:.4}}}",
            var.sqrt() / exact
        );
    }
    Ok(())
}
