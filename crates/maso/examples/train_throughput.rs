//! Measures training throughput (forward, backward and optimizer step) in images per second for
//! the SmallCNN and the MLP at batch 128, on random normal inputs and random labels.
//!
//! Run: `cargo run --release -p maso --example train_throughput [batch] [steps]`.
//! Uses SGD with momentum 0.9 and learning rate 0.01, like `bench/pytorch/train_throughput.py`.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor};
use maso::arch::Architecture;
use maso::train::{OptimizerConfig, cross_entropy};
use maso::{FeatureShape, Mode};
use std::time::Instant;

fn main() -> Result<(), maso::MasoError> {
    let mut args = std::env::args().skip(1);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(128);
    let steps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let device = Device::flex().autodiff();
    device.seed(0);
    for architecture in [Architecture::SmallCnn, Architecture::mlp(vec![256, 256])] {
        let mut network = architecture
            .config(FeatureShape::new(1, 28, 28), 10)?
            .init(&device)?;
        let optimizer_config = OptimizerConfig::Sgd {
            learning_rate: 0.01,
            momentum: 0.9,
        };
        let mut optimizer = optimizer_config.init();
        let mut rates = Vec::new();
        for repeat in 0..4 {
            let start = Instant::now();
            for _ in 0..steps {
                let x = Tensor::<2>::random([batch, 784], Distribution::Normal(0.0, 1.0), &device);
                let labels =
                    Tensor::<1, Int>::random([batch], Distribution::Uniform(0.0, 10.0), &device);
                let loss = cross_entropy(network.forward(x, Mode::Train), labels);
                let grads = GradientsParams::from_grads(loss.backward(), &network);
                network = optimizer.step(0.01, network, grads);
            }
            let _ = network.layers.len();
            // The first repeat warms up the allocator and thread pool.
            if repeat > 0 {
                rates.push((steps * batch) as f64 / start.elapsed().as_secs_f64());
            }
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "{{\"architecture\": \"{architecture}\", \"batch\": {batch}, \"images_per_second_median\": {:.0}, \"min\": {:.0}, \"max\": {:.0}}}",
            rates[1], rates[0], rates[2]
        );
        let _ = network.valid();
    }
    Ok(())
}
