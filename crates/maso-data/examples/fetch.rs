//! Downloads a data set into a cache directory and prints its sizes.
//!
//! Usage: `cargo run -p maso-data --release --example fetch -- NAME [CACHE_DIR]`,
//! where NAME is `mnist` or `fashion-mnist` and `CACHE_DIR` defaults to
//! `maso_data::default_cache_dir()`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use maso_data::{DatasetName, default_cache_dir, fetch, load};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        eprintln!("usage: fetch NAME [CACHE_DIR]");
        return ExitCode::FAILURE;
    };
    let cache_dir = args.next().map_or_else(default_cache_dir, PathBuf::from);

    match run(&name, &cache_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(name: &str, cache_dir: &Path) -> Result<(), maso_data::DataError> {
    let name: DatasetName = name.parse()?;

    let start = Instant::now();
    let dir = fetch(name, cache_dir, &|line| eprintln!("{line}"))?;
    println!(
        "fetch: {:.1} s, into {}",
        start.elapsed().as_secs_f64(),
        dir.display()
    );

    let start = Instant::now();
    let splits = load(name, cache_dir)?;
    println!(
        "load: {:.2} s, {} training and {} test images of shape {:?}",
        start.elapsed().as_secs_f64(),
        splits.train.len(),
        splits.test.len(),
        splits.train.shape
    );
    println!("training class counts: {:?}", splits.train.class_counts());
    println!("test class counts: {:?}", splits.test.class_counts());
    Ok(())
}
