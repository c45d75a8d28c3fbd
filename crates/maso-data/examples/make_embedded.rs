//! Writes the MNIST subset that `maso_data::embedded_mnist` compiles in.
//!
//! Usage: `cargo run -p maso-data --example make_embedded -- [CACHE_DIR]`.
//! It reads MNIST from `CACHE_DIR` (fetch it first, see the `fetch` example),
//! takes the first 5,000 training and the first 1,000 test images, and
//! writes them as gzip-compressed IDX files to the crate's `data/` directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use maso_data::{
    DatasetName, EMBEDDED_MNIST_TEST_LEN, EMBEDDED_MNIST_TRAIN_LEN, default_cache_dir, load,
    write_idx_dataset,
};

fn main() -> ExitCode {
    let cache_dir = std::env::args()
        .nth(1)
        .map_or_else(default_cache_dir, PathBuf::from);
    let data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");

    match run(&cache_dir, &data_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cache_dir: &Path, data_dir: &Path) -> Result<(), maso_data::DataError> {
    let mnist = load(DatasetName::Mnist, cache_dir)?;
    let train = mnist.train.take(EMBEDDED_MNIST_TRAIN_LEN);
    let test = mnist.test.take(EMBEDDED_MNIST_TEST_LEN);

    write_idx_dataset(
        &train,
        &data_dir.join("mnist-train-images-idx3-ubyte.gz"),
        &data_dir.join("mnist-train-labels-idx1-ubyte.gz"),
    )?;
    write_idx_dataset(
        &test,
        &data_dir.join("mnist-t10k-images-idx3-ubyte.gz"),
        &data_dir.join("mnist-t10k-labels-idx1-ubyte.gz"),
    )?;

    println!("training class counts: {:?}", train.class_counts());
    println!("test class counts: {:?}", test.class_counts());
    println!("wrote {}", data_dir.display());
    Ok(())
}
