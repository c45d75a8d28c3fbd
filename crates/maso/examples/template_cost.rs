//! Measures the cost of `A[x]` (all class templates) over a batch, divided by the cost of one
//! forward pass over the same batch, for the MLP, SmallCNN and ResNet on 1x28x28 inputs.
//!
//! Run: `cargo run --release -p maso --example template_cost [batch] [repeats]`.
//! Prints one JSON object per architecture. The inputs are random normal values.

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use maso::arch::Architecture;
use maso::{AffineOptions, FeatureShape, Mode, affine_map};
use std::time::Instant;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn time(repeats: usize, mut run: impl FnMut()) -> f64 {
    run();
    median(
        (0..repeats)
            .map(|_| {
                let start = Instant::now();
                run();
                start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() -> Result<(), maso::MasoError> {
    let mut args = std::env::args().skip(1);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(128);
    let repeats: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let device = Device::flex();
    let architectures = [
        Architecture::mlp(vec![256, 256]),
        Architecture::SmallCnn,
        Architecture::ResNet {
            blocks: 1,
            width: 32,
        },
    ];
    for architecture in architectures {
        let train_device = device.clone().autodiff();
        train_device.seed(0);
        let network = architecture
            .config(FeatureShape::new(1, 28, 28), 10)?
            .init(&train_device)?;
        // Two training-mode passes give batch norm non-trivial running statistics.
        for _ in 0..2 {
            let x =
                Tensor::<2>::random([batch, 784], Distribution::Normal(0.0, 1.0), &train_device);
            let _ = network.forward(x, Mode::Train);
        }
        let network = network.valid();
        let x = Tensor::<2>::random([batch, 784], Distribution::Normal(0.0, 1.0), &device);

        let forward = time(repeats, || {
            let y = network.forward_reference(x.clone(), network.depth());
            let _ = y.into_data();
        });
        let templates = time(repeats, || {
            let map =
                affine_map(&network, x.clone(), AffineOptions::default()).expect("valid input");
            let _ = map.slopes.into_data();
            let _ = map.offsets.into_data();
        });
        println!(
            "{{\"architecture\": \"{architecture}\", \"batch\": {batch}, \"threads\": {threads}, \"forward_seconds\": {forward:.5}, \"templates_seconds\": {templates:.5}, \"ratio\": {ratio:.2}}}",
            threads = std::thread::available_parallelism().map_or(1, |n| n.get()),
            ratio = templates / forward,
        );
    }
    Ok(())
}
