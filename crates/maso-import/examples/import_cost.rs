//! Measures the import time of the test fixtures and the cost of `A[x]` for the imported
//! networks over one batch of random normal inputs.
//!
//! Run: `cargo run --release -p maso-import --example import_cost [batch] [repeats]`.
//! Prints one JSON object per fixture; times are medians over the repeats, in seconds.

use burn::tensor::{Device, Distribution, Tensor};
use maso::arch::Architecture;
use maso::{AffineOptions, FeatureShape, Network, affine_map};
use maso_import::import_onnx;
use maso_import::state_dict::load_state_dict;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Imports one fixture into a network.
type Importer<'a> = Box<dyn Fn() -> Network + 'a>;

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

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn import_small_cnn(device: &Device) -> Network {
    let mut network = Architecture::SmallCnn
        .config(FeatureShape::new(1, 28, 28), 10)
        .expect("valid architecture")
        .init(device)
        .expect("valid configuration");
    load_state_dict(
        &fixture("small_cnn.state_dict.safetensors"),
        &mut network,
        "",
    )
    .expect("the fixture loads");
    network
}

fn main() {
    let mut args = std::env::args().skip(1);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(128);
    let repeats: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let device = Device::flex();

    let fixtures: [(&str, Importer); 3] = [
        (
            "resnet_bn.torchscript.onnx",
            Box::new(|| {
                let model = import_onnx(&fixture("resnet_bn.torchscript.onnx"), None).unwrap();
                model.network(&device).unwrap()
            }),
        ),
        (
            "resnet_bn.dynamo.onnx",
            Box::new(|| {
                let model = import_onnx(&fixture("resnet_bn.dynamo.onnx"), None).unwrap();
                model.network(&device).unwrap()
            }),
        ),
        (
            "small_cnn.state_dict.safetensors",
            Box::new(|| import_small_cnn(&device)),
        ),
    ];
    for (name, import) in fixtures {
        let import_seconds = time(repeats.max(20), || {
            let _ = import();
        });
        let network = import();
        let features = network.input_shape().numel();
        let x = Tensor::<2>::random([batch, features], Distribution::Normal(0.0, 1.0), &device);
        let forward = time(repeats, || {
            let _ = network
                .forward_reference(x.clone(), network.depth())
                .into_data();
        });
        let templates = time(repeats, || {
            let map =
                affine_map(&network, x.clone(), AffineOptions::default()).expect("valid input");
            let _ = map.slopes.into_data();
            let _ = map.offsets.into_data();
        });
        println!(
            "{{\"fixture\": \"{name}\", \"input\": \"{shape}\", \"batch\": {batch}, \"import_seconds\": {import_seconds:.6}, \"forward_seconds\": {forward:.5}, \"templates_seconds\": {templates:.5}, \"ratio\": {ratio:.2}}}",
            shape = network.input_shape(),
            ratio = templates / forward,
        );
    }
}
