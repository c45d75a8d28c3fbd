//! In-memory data sets and the names of the supported data sets.

use std::fmt;
use std::str::FromStr;

use crate::DataError;

/// Images as `u8` pixels with one label each.
///
/// `images` stores `N x C x H x W` bytes in row-major order, so image `i`
/// occupies `images[i * image_len() .. (i + 1) * image_len()]`. Call
/// [`validate`](Dataset::validate) on data built by hand; the readers of this
/// crate return validated data. The `Debug` output lists the sizes, not the
/// pixels.
#[derive(Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Name used in error messages, such as `"mnist/train"`.
    pub name: String,
    /// Pixels of all images, `N x C x H x W`, row-major.
    pub images: Vec<u8>,
    /// One class index per image.
    pub labels: Vec<u8>,
    /// Image shape as (channels, height, width).
    pub shape: [usize; 3],
    /// Number of classes; every label must be below it.
    pub num_classes: usize,
}

impl Dataset {
    /// Returns the number of images, which is the number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Returns `true` when the data set has no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Returns the number of bytes per image, `C * H * W`.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Returns the pixels of image `i`.
    ///
    /// # Panics
    ///
    /// Panics if `i >= self.len()`, like slice indexing.
    ///
    /// # Examples
    ///
    /// ```
    /// let splits = maso_data::embedded_mnist();
    /// assert_eq!(splits.test.image(0).len(), 28 * 28);
    /// ```
    pub fn image(&self, i: usize) -> &[u8] {
        let image_len = self.image_len();
        &self.images[i * image_len..(i + 1) * image_len]
    }

    /// Copies the images and labels at `indices`, in that order, into a new data set.
    ///
    /// Indices may repeat. The name, shape and number of classes are kept.
    ///
    /// # Panics
    ///
    /// Panics if an index is `>= self.len()`, like slice indexing.
    ///
    /// # Examples
    ///
    /// ```
    /// let test = maso_data::embedded_mnist().test;
    /// let pair = test.subset(&[3, 0]);
    /// assert_eq!(pair.labels, vec![test.labels[3], test.labels[0]]);
    /// assert_eq!(pair.image(1), test.image(0));
    /// ```
    #[must_use]
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let image_len = self.image_len();
        let mut images = Vec::with_capacity(indices.len() * image_len);
        let mut labels = Vec::with_capacity(indices.len());

        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }

        Dataset {
            name: self.name.clone(),
            images,
            labels,
            shape: self.shape,
            num_classes: self.num_classes,
        }
    }

    /// Copies the first `n` images and labels into a new data set, or all of
    /// them when `n >= self.len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let test = maso_data::embedded_mnist().test;
    /// assert_eq!(test.take(10).len(), 10);
    /// assert_eq!(test.take(usize::MAX).len(), test.len());
    /// ```
    #[must_use]
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());

        Dataset {
            name: self.name.clone(),
            images: self.images[..n * self.image_len()].to_vec(),
            labels: self.labels[..n].to_vec(),
            shape: self.shape,
            num_classes: self.num_classes,
        }
    }

    /// Checks that the data set is non-empty, that every shape dimension is
    /// positive, that `images.len() == len() * image_len()`, and that every
    /// label is below `num_classes`.
    ///
    /// # Errors
    ///
    /// [`DataError::EmptyDataset`], [`DataError::InvalidShape`],
    /// [`DataError::InconsistentLength`] or [`DataError::LabelOutOfRange`],
    /// checked in that order.
    ///
    /// # Examples
    ///
    /// ```
    /// use maso_data::{DataError, Dataset};
    ///
    /// let mut data = Dataset {
    ///     name: "tiny".to_string(),
    ///     images: vec![0, 255, 7, 9],
    ///     labels: vec![0, 1],
    ///     shape: [1, 1, 2],
    ///     num_classes: 2,
    /// };
    /// assert!(data.validate().is_ok());
    ///
    /// data.labels[1] = 2;
    /// assert!(matches!(data.validate(), Err(DataError::LabelOutOfRange { index: 1, .. })));
    /// ```
    pub fn validate(&self) -> Result<(), DataError> {
        if self.is_empty() {
            return Err(DataError::EmptyDataset {
                name: self.name.clone(),
            });
        }

        if self.shape.contains(&0) {
            return Err(DataError::InvalidShape {
                name: self.name.clone(),
                shape: self.shape,
            });
        }

        let image_len = self.image_len();
        let expected = self.len().checked_mul(image_len);
        if expected != Some(self.images.len()) {
            return Err(DataError::InconsistentLength {
                name: self.name.clone(),
                pixels: self.images.len(),
                labels: self.len(),
                image_len,
                expected: expected.unwrap_or(usize::MAX),
            });
        }

        let out_of_range = self
            .labels
            .iter()
            .position(|&label| usize::from(label) >= self.num_classes);
        if let Some(index) = out_of_range {
            return Err(DataError::LabelOutOfRange {
                name: self.name.clone(),
                index,
                label: self.labels[index],
                num_classes: self.num_classes,
            });
        }

        Ok(())
    }

    /// Counts the images of each class; entry `c` is the number of labels equal to `c`.
    ///
    /// The result has `num_classes` entries. Labels at or above
    /// `num_classes` are not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// let counts = maso_data::embedded_mnist().test.class_counts();
    /// assert_eq!(counts.len(), 10);
    /// assert_eq!(counts.iter().sum::<usize>(), 1_000);
    /// ```
    #[must_use]
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &label in &self.labels {
            if let Some(count) = counts.get_mut(usize::from(label)) {
                *count += 1;
            }
        }
        counts
    }
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("name", &self.name)
            .field("len", &self.len())
            .field("images_bytes", &self.images.len())
            .field("shape", &self.shape)
            .field("num_classes", &self.num_classes)
            .finish_non_exhaustive()
    }
}

/// A training split and a test split of one data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splits {
    /// Training images.
    pub train: Dataset,
    /// Test images.
    pub test: Dataset,
}

/// The data sets that [`load`](crate::load) supports.
///
/// Parses from and displays as the names used on the command line.
///
/// # Examples
///
/// ```
/// use maso_data::DatasetName;
///
/// let name: DatasetName = "fashion-mnist".parse().unwrap();
/// assert_eq!(name, DatasetName::FashionMnist);
/// assert_eq!(name.to_string(), "fashion-mnist");
/// assert!("svhn".parse::<DatasetName>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetName {
    /// Handwritten digits, 60,000 training and 10,000 test images of 1 x 28 x 28.
    Mnist,
    /// Zalando clothing images, 60,000 training and 10,000 test images of 1 x 28 x 28.
    FashionMnist,
    /// Small color photographs, 50,000 training and 10,000 test images of 3 x 32 x 32.
    Cifar10,
}

impl DatasetName {
    /// All supported data sets, in the order of the help text.
    pub const ALL: [DatasetName; 3] = [
        DatasetName::Mnist,
        DatasetName::FashionMnist,
        DatasetName::Cifar10,
    ];

    /// Returns the command-line name, which is also the cache subdirectory name.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Cifar10 => "cifar10",
        }
    }

    /// Returns the image shape as (channels, height, width).
    pub fn shape(self) -> [usize; 3] {
        match self {
            DatasetName::Mnist | DatasetName::FashionMnist => [1, 28, 28],
            DatasetName::Cifar10 => [3, 32, 32],
        }
    }

    /// Returns the number of classes, 10 for all three data sets.
    pub fn num_classes(self) -> usize {
        10
    }

    /// Returns the number of training and test images of the full data set.
    pub fn split_sizes(self) -> (usize, usize) {
        match self {
            DatasetName::Mnist | DatasetName::FashionMnist => (60_000, 10_000),
            DatasetName::Cifar10 => (50_000, 10_000),
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = DataError;

    /// Parses `"mnist"`, `"fashion-mnist"` or `"cifar10"`, exactly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatasetName::ALL
            .into_iter()
            .find(|name| name.as_str() == s)
            .ok_or_else(|| DataError::UnknownDataset {
                name: s.to_string(),
                valid: DatasetName::ALL.map(DatasetName::as_str).join(", "),
            })
    }
}
