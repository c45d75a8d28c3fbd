//! Reader for the binary version of CIFAR-10.
//!
//! Each batch file is a sequence of 3073-byte records: one label byte
//! (0 to 9) followed by 3072 pixel bytes. The pixels are the 1024 red, then
//! the 1024 green, then the 1024 blue values of a 32 x 32 image, each plane
//! in row-major order, which is already the `C x H x W` layout of [`Dataset`].

use std::fs;
use std::path::{Path, PathBuf};

use crate::{DataError, Dataset, DatasetName};

/// Bytes of pixels per CIFAR-10 image, 3 x 32 x 32.
const IMAGE_LEN: usize = 3 * 32 * 32;

/// Bytes per CIFAR-10 record: one label byte and the pixels.
pub const CIFAR10_RECORD_LEN: usize = 1 + IMAGE_LEN;

/// Names of the five training batch files, in the order they are concatenated.
pub const CIFAR10_TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];

/// Name of the test batch file.
pub const CIFAR10_TEST_FILE: &str = "test_batch.bin";

/// Directory that the official CIFAR-10 binary archive extracts to.
const ARCHIVE_DIR: &str = "cifar-10-batches-bin";

/// Reads one CIFAR-10 binary batch file.
///
/// Returns the pixels of all images (`N x 3 x 32 x 32`, row-major) and one
/// label per image. Labels are not range-checked here; [`load`](crate::load)
/// checks them.
///
/// # Errors
///
/// [`DataError::Io`] if the file cannot be read, and
/// [`DataError::CifarLength`] if its length is zero or not a multiple of
/// [`CIFAR10_RECORD_LEN`].
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("batch.bin");
/// let mut record = vec![7u8];
/// record.extend(std::iter::repeat_n(200u8, 3072));
/// std::fs::write(&path, &record)?;
///
/// let (pixels, labels) = maso_data::read_cifar10_batch(&path)?;
/// assert_eq!(labels, vec![7]);
/// assert_eq!(pixels.len(), 3072);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_cifar10_batch(path: &Path) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let bytes = fs::read(path).map_err(|source| DataError::io(path, source))?;
    if bytes.is_empty() || bytes.len() % CIFAR10_RECORD_LEN != 0 {
        return Err(DataError::CifarLength {
            path: path.to_path_buf(),
            found: bytes.len() as u64,
            record_len: CIFAR10_RECORD_LEN,
        });
    }

    let count = bytes.len() / CIFAR10_RECORD_LEN;
    let mut pixels = Vec::with_capacity(count * IMAGE_LEN);
    let mut labels = Vec::with_capacity(count);
    for record in bytes.chunks_exact(CIFAR10_RECORD_LEN) {
        labels.push(record[0]);
        pixels.extend_from_slice(&record[1..]);
    }

    Ok((pixels, labels))
}

/// Loads the CIFAR-10 batches from `dir`, or from `dir/cifar-10-batches-bin`
/// when `dir` has no `data_batch_1.bin` (the layout of the extracted
/// official archive).
pub(crate) fn load_cifar10(dir: &Path) -> Result<crate::Splits, DataError> {
    let batch_dir = find_batch_dir(dir);
    let name = DatasetName::Cifar10;

    let mut train = Dataset {
        name: format!("{name}/train"),
        images: Vec::new(),
        labels: Vec::new(),
        shape: name.shape(),
        num_classes: name.num_classes(),
    };
    for file in CIFAR10_TRAIN_FILES {
        let (pixels, labels) = read_checked_batch(&batch_dir, file, dir)?;
        train.images.extend_from_slice(&pixels);
        train.labels.extend_from_slice(&labels);
    }

    let (images, labels) = read_checked_batch(&batch_dir, CIFAR10_TEST_FILE, dir)?;
    let test = Dataset {
        name: format!("{name}/test"),
        images,
        labels,
        shape: name.shape(),
        num_classes: name.num_classes(),
    };

    train.validate()?;
    test.validate()?;
    Ok(crate::Splits { train, test })
}

fn find_batch_dir(dir: &Path) -> PathBuf {
    let nested = dir.join(ARCHIVE_DIR);
    if !dir.join(CIFAR10_TRAIN_FILES[0]).exists() && nested.join(CIFAR10_TRAIN_FILES[0]).exists() {
        nested
    } else {
        dir.to_path_buf()
    }
}

/// Reads `batch_dir/file` and checks that its labels are below 10.
fn read_checked_batch(
    batch_dir: &Path,
    file: &str,
    dir: &Path,
) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let path = existing_batch(batch_dir, file, dir)?;
    let (pixels, labels) = read_cifar10_batch(&path)?;
    crate::check_labels(&labels, DatasetName::Cifar10.num_classes(), &path)?;
    Ok((pixels, labels))
}

fn existing_batch(batch_dir: &Path, file: &str, dir: &Path) -> Result<PathBuf, DataError> {
    let path = batch_dir.join(file);
    if path.exists() {
        Ok(path)
    } else {
        Err(DataError::CifarMissing {
            path,
            dir: dir.to_path_buf(),
        })
    }
}
