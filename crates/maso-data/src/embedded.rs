//! The MNIST subset compiled into the library.

use std::path::Path;

use crate::idx::decode_idx_dataset;
use crate::{DataError, DatasetName, Splits};

/// Number of training images in [`embedded_mnist`]: the first 5,000 of the MNIST training set.
pub const EMBEDDED_MNIST_TRAIN_LEN: usize = 5_000;

/// Number of test images in [`embedded_mnist`]: the first 1,000 of the MNIST test set.
pub const EMBEDDED_MNIST_TEST_LEN: usize = 1_000;

/// Images per class (digits 0 to 9) in the embedded training split.
pub const EMBEDDED_MNIST_TRAIN_CLASS_COUNTS: [usize; 10] =
    [479, 563, 488, 493, 535, 434, 501, 550, 462, 495];

/// Images per class (digits 0 to 9) in the embedded test split.
pub const EMBEDDED_MNIST_TEST_CLASS_COUNTS: [usize; 10] =
    [85, 126, 116, 107, 110, 87, 87, 99, 89, 94];

const TRAIN_IMAGES: &[u8] = include_bytes!("../data/mnist-train-images-idx3-ubyte.gz");
const TRAIN_LABELS: &[u8] = include_bytes!("../data/mnist-train-labels-idx1-ubyte.gz");
const TEST_IMAGES: &[u8] = include_bytes!("../data/mnist-t10k-images-idx3-ubyte.gz");
const TEST_LABELS: &[u8] = include_bytes!("../data/mnist-t10k-labels-idx1-ubyte.gz");

/// Returns the MNIST subset compiled into the library: the first 5,000
/// training and the first 1,000 test images of MNIST, 1 x 28 x 28 each,
/// in their original order.
///
/// It needs no network and no files at run time, which suits examples,
/// tests and quick experiments. The classes are not exactly balanced. Per
/// digit 0 to 9, the training split has 479, 563, 488, 493, 535, 434, 501,
/// 550, 462 and 495 images ([`EMBEDDED_MNIST_TRAIN_CLASS_COUNTS`]). The
/// test split has 85, 126, 116, 107, 110, 87, 87, 99, 89 and 94
/// ([`EMBEDDED_MNIST_TEST_CLASS_COUNTS`]). The split names are
/// `mnist-embedded/train` and `mnist-embedded/test`. Each call decodes the
/// gzip-compressed IDX files anew, which takes a few milliseconds.
///
/// # Panics
///
/// Panics only if the embedded files are corrupt, which would be a defect
/// of the build; the crate's tests decode and check them.
///
/// # Examples
///
/// ```
/// let mnist = maso_data::embedded_mnist();
/// assert_eq!(mnist.train.len(), 5_000);
/// assert_eq!(mnist.test.shape, [1, 28, 28]);
/// ```
#[must_use]
pub fn embedded_mnist() -> Splits {
    match decode_embedded_mnist() {
        Ok(splits) => splits,
        Err(error) => panic!("the MNIST subset embedded in maso-data is corrupt: {error}"),
    }
}

fn decode_embedded_mnist() -> Result<Splits, DataError> {
    let name = DatasetName::Mnist;
    let train = decode_idx_dataset(
        TRAIN_IMAGES,
        Path::new("data/mnist-train-images-idx3-ubyte.gz"),
        TRAIN_LABELS,
        Path::new("data/mnist-train-labels-idx1-ubyte.gz"),
        "mnist-embedded/train",
        name.num_classes(),
    )?;
    let test = decode_idx_dataset(
        TEST_IMAGES,
        Path::new("data/mnist-t10k-images-idx3-ubyte.gz"),
        TEST_LABELS,
        Path::new("data/mnist-t10k-labels-idx1-ubyte.gz"),
        "mnist-embedded/test",
        name.num_classes(),
    )?;
    Ok(Splits { train, test })
}
