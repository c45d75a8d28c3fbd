//! Location and layout of the data set cache, and loading from it.
//!
//! MNIST and Fashion-MNIST live in `CACHE/mnist/` and `CACHE/fashion-mnist/`
//! as the four gzip-compressed IDX files named in [`CACHE_FILES`], written
//! by [`fetch`](crate::fetch). CIFAR-10 lives in `CACHE/cifar10/` as the
//! binary batch files, which the user places there.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::{DataError, Dataset, DatasetName, Splits, cifar, read_idx_dataset};

/// File names of a converted data set in its cache directory: training
/// images, training labels, test images and test labels.
pub const CACHE_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// Returns the default cache directory.
///
/// The first of these that is set and non-empty wins: `$MASO_CACHE`,
/// `$XDG_CACHE_HOME/maso` (only if `$XDG_CACHE_HOME` is an absolute path,
/// as the XDG base directory specification requires), `$HOME/.cache/maso`,
/// `%USERPROFILE%/.cache/maso`. With none of them set, it returns
/// `maso-cache` in the system temporary directory.
#[must_use]
pub fn default_cache_dir() -> PathBuf {
    let home = env::var_os("HOME").or_else(|| env::var_os("USERPROFILE"));
    cache_dir_from(
        env::var_os("MASO_CACHE"),
        env::var_os("XDG_CACHE_HOME"),
        home,
    )
}

/// Chooses the cache directory from the values of `MASO_CACHE`,
/// `XDG_CACHE_HOME` and the home directory.
pub(crate) fn cache_dir_from(
    maso_cache: Option<OsString>,
    xdg_cache_home: Option<OsString>,
    home: Option<OsString>,
) -> PathBuf {
    let non_empty = |value: Option<OsString>| value.filter(|value| !value.is_empty());

    if let Some(dir) = non_empty(maso_cache) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = non_empty(xdg_cache_home).map(PathBuf::from) {
        if dir.is_absolute() {
            return dir.join("maso");
        }
    }
    if let Some(home) = non_empty(home) {
        return PathBuf::from(home).join(".cache").join("maso");
    }
    env::temp_dir().join("maso-cache")
}

/// Loads the training and test splits of a data set from the cache.
///
/// For MNIST and Fashion-MNIST it reads the files named in [`CACHE_FILES`]
/// from `cache_dir/NAME/`. For CIFAR-10 it reads `data_batch_1.bin` to
/// `data_batch_5.bin` (concatenated into the training set) and
/// `test_batch.bin` from `cache_dir/cifar10/`, or from
/// `cache_dir/cifar10/cifar-10-batches-bin/` as extracted from the
/// official archive. The split names are `NAME/train` and `NAME/test`.
///
/// # Errors
///
/// - [`DataError::NotCached`] if an MNIST or Fashion-MNIST file is missing.
///   Its message gives the command `maso data fetch NAME`.
/// - [`DataError::CifarMissing`] if a CIFAR-10 batch is missing. Its message
///   names the directory to place the batches in.
/// - [`DataError::ShapeMismatch`] if a file contains images of another shape
///   than the data set.
/// - The errors of the IDX and CIFAR-10 readers.
///
/// # Examples
///
/// ```
/// use maso_data::{DataError, DatasetName, load};
///
/// let empty = tempfile::tempdir()?;
/// let error = load(DatasetName::Mnist, empty.path()).unwrap_err();
/// assert!(matches!(error, DataError::NotCached { .. }));
/// assert!(error.to_string().contains("maso data fetch mnist"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(name: DatasetName, cache_dir: &Path) -> Result<Splits, DataError> {
    let dir = cache_dir.join(name.as_str());
    match name {
        DatasetName::Cifar10 => cifar::load_cifar10(&dir),
        DatasetName::Mnist | DatasetName::FashionMnist => load_idx_cache(name, &dir),
    }
}

fn load_idx_cache(name: DatasetName, dir: &Path) -> Result<Splits, DataError> {
    let paths = CACHE_FILES.map(|file| dir.join(file));
    if let Some(missing) = paths.iter().find(|path| !path.exists()) {
        return Err(DataError::NotCached {
            dataset: name.to_string(),
            path: missing.clone(),
        });
    }

    let [train_images, train_labels, test_images, test_labels] = &paths;
    let train = load_split(name, "train", train_images, train_labels)?;
    let test = load_split(name, "test", test_images, test_labels)?;
    Ok(Splits { train, test })
}

fn load_split(
    name: DatasetName,
    split: &str,
    images_path: &Path,
    labels_path: &Path,
) -> Result<Dataset, DataError> {
    let data = read_idx_dataset(
        images_path,
        labels_path,
        &format!("{name}/{split}"),
        name.num_classes(),
    )?;

    if data.shape != name.shape() {
        return Err(DataError::ShapeMismatch {
            path: images_path.to_path_buf(),
            expected: name.shape(),
            found: data.shape,
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(value: &str) -> Option<OsString> {
        Some(OsString::from(value))
    }

    #[test]
    fn maso_cache_wins() {
        let dir = cache_dir_from(os("/data/maso"), os("/xdg"), os("/home/u"));
        assert_eq!(dir, PathBuf::from("/data/maso"));
    }

    #[test]
    fn xdg_cache_home_next() {
        let dir = cache_dir_from(None, os("/xdg"), os("/home/u"));
        assert_eq!(dir, PathBuf::from("/xdg/maso"));
    }

    #[test]
    fn empty_and_relative_values_skipped() {
        let dir = cache_dir_from(os(""), os("relative/xdg"), os("/home/u"));
        assert_eq!(dir, PathBuf::from("/home/u/.cache/maso"));
    }

    #[test]
    fn temp_dir_without_home() {
        let dir = cache_dir_from(None, None, os(""));
        assert_eq!(dir, env::temp_dir().join("maso-cache"));
    }
}
