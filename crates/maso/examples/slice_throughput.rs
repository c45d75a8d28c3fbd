//! Measures the exact slice partition of random ReLU MLPs: regions per second on the input
//! plane `[-1, 1]^2` of 2-input MLPs of widths 32 to 256 and 3 to 8 hidden layers.
//!
//! Run: `cargo run --release -p maso --example slice_throughput [--write DIR] [--repeats N]`.
//! Weights are drawn as PyTorch initializes `nn.Linear` (uniform in `[-1/sqrt(in), 1/sqrt(in)]`,
//! f32) from a seed per network. With `--write DIR` the example also writes them as
//! `DIR/w{width}_d{depth}/weight{i}.npy` (`[out, in]`, float32) and `bias{i}.npy`, which the
//! regioncam comparison in `bench/regioncam/` reads. `--only 64x8` measures one network. Set
//! `RAYON_NUM_THREADS=1` for one thread.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use maso::layer::Layer;
use maso::slice::{SlicePlane, Slicer};
use maso::{FeatureShape, LayerConfig, NetworkConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

const WIDTHS: [usize; 4] = [32, 64, 128, 256];
const DEPTHS: [usize; 3] = [3, 5, 8];

fn write_npy(path: &Path, values: &[f32], shape: &[usize]) -> std::io::Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    let padding = 64 - (10 + header.len() + 1) % 64;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    file.write_all(b"\x93NUMPY\x01\x00")?;
    file.write_all(&((header.len() + padding + 1) as u16).to_le_bytes())?;
    file.write_all(header.as_bytes())?;
    file.write_all(&vec![b' '; padding])?;
    file.write_all(b"\n")?;
    for value in values {
        file.write_all(&value.to_le_bytes())?;
    }
    file.flush()
}

/// Weights and biases of `depth` layers of `width` units on 2 inputs, PyTorch's init.
fn random_weights(width: usize, depth: usize) -> Vec<(Vec<f32>, Vec<f32>, [usize; 2])> {
    let mut rng = StdRng::seed_from_u64((width * 100 + depth) as u64);
    let mut inputs = 2;
    (0..depth)
        .map(|_| {
            let bound = 1.0 / (inputs as f32).sqrt();
            let weight = (0..width * inputs)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            let bias = (0..width)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            let shape = [width, inputs];
            inputs = width;
            (weight, bias, shape)
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .map(|i| args[i + 1].clone())
    };
    let write_dir = option("--write");
    let repeats: usize = option("--repeats").map_or(Ok(3), |r| r.parse())?;
    // `--only 64x8` measures one network.
    let only = option("--only");
    let device = Device::flex();
    println!("width depth regions seconds regions_per_second");
    for width in WIDTHS {
        for depth in DEPTHS {
            if only
                .as_ref()
                .is_some_and(|only| *only != format!("{width}x{depth}"))
            {
                continue;
            }
            let weights = random_weights(width, depth);
            if let Some(dir) = &write_dir {
                let dir = Path::new(dir).join(format!("w{width}_d{depth}"));
                std::fs::create_dir_all(&dir)?;
                for (i, (weight, bias, shape)) in weights.iter().enumerate() {
                    write_npy(&dir.join(format!("weight{i}.npy")), weight, shape)?;
                    write_npy(&dir.join(format!("bias{i}.npy")), bias, &shape[..1])?;
                }
            }
            let layers = (0..depth)
                .flat_map(|_| [LayerConfig::linear(width), LayerConfig::Relu])
                .collect();
            let mut network = NetworkConfig::new(FeatureShape::flat(2), layers).init(&device)?;
            let mut next = weights.iter();
            for layer in &mut network.layers {
                if let Layer::Linear(linear) = layer {
                    let (weight, bias, shape) = next.next().expect("one pair per layer");
                    linear.weight = Param::from_tensor(Tensor::from_data(
                        TensorData::new(weight.clone(), *shape),
                        &device,
                    ));
                    linear.bias = Some(Param::from_tensor(Tensor::from_data(
                        TensorData::new(bias.clone(), [shape[0]]),
                        &device,
                    )));
                }
            }
            let mut best = f64::INFINITY;
            let mut regions = 0;
            for _ in 0..repeats {
                let plane = SlicePlane::input_plane([-1.0, -1.0], [1.0, 1.0])?;
                let start = Instant::now();
                let mut slicer = Slicer::new(&network, plane)?;
                regions = slicer.run(network.depth())?.len();
                best = best.min(start.elapsed().as_secs_f64());
            }
            println!(
                "{width} {depth} {regions} {best:.4} {:.0}",
                regions as f64 / best
            );
        }
    }
    Ok(())
}
