//! Reader and writer for IDX files, the format of the MNIST and Fashion-MNIST distributions.
//!
//! An IDX file starts with a 4-byte big-endian magic number `0x0000TTRR`,
//! where `TT` is the element type (`0x08` for unsigned bytes, the only type
//! supported here) and `RR` is the rank. Then come `RR` big-endian `u32`
//! dimensions and the elements in row-major order. Image files have rank 3
//! (count, rows, columns) and label files rank 1 (count). Files whose
//! first two bytes are the gzip signature `1f 8b` are decompressed first,
//! whatever their name.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::{DataError, Dataset};

/// Magic number of an IDX file of unsigned-byte images (rank 3).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;

/// Magic number of an IDX file of unsigned-byte labels (rank 1).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// IDX element type code for unsigned bytes.
const UNSIGNED_BYTE: u8 = 0x08;

/// First two bytes of every gzip stream.
const GZIP_SIGNATURE: [u8; 2] = [0x1f, 0x8b];

/// Largest initial buffer for the body of a compressed file, so that a
/// corrupt header cannot reserve gigabytes before any data arrives.
const MAX_INITIAL_CAPACITY: usize = 64 << 20;

/// Kind of IDX file, which fixes the rank and the magic number.
#[derive(Clone, Copy, Debug)]
enum IdxKind {
    Images,
    Labels,
}

impl IdxKind {
    fn magic(self) -> u32 {
        match self {
            IdxKind::Images => IDX_IMAGES_MAGIC,
            IdxKind::Labels => IDX_LABELS_MAGIC,
        }
    }

    fn rank(self) -> u8 {
        (self.magic() & 0xff) as u8
    }

    fn label(self) -> &'static str {
        match self {
            IdxKind::Images => "images",
            IdxKind::Labels => "labels",
        }
    }
}

/// Reads an IDX file of unsigned-byte images, plain or gzip-compressed.
///
/// Returns the pixels of all images, row-major, and the image shape as
/// `[1, rows, columns]`. The number of images is `pixels.len() / (rows * columns)`.
///
/// # Errors
///
/// [`DataError::Io`] if the file cannot be read, [`DataError::Gzip`] if its
/// gzip stream is corrupt, and [`DataError::IdxHeaderTruncated`],
/// [`DataError::IdxMagic`], [`DataError::IdxElementType`],
/// [`DataError::IdxRank`], [`DataError::IdxZeroDimension`],
/// [`DataError::IdxTooLarge`] or [`DataError::IdxLength`] if the content is
/// not exactly one rank-3 unsigned-byte IDX array.
///
/// # Examples
///
/// ```
/// use maso_data::{Dataset, read_idx_images, write_idx_dataset};
///
/// let dir = tempfile::tempdir()?;
/// let data = Dataset {
///     name: "two".to_string(),
///     images: (0..12).collect(),
///     labels: vec![4, 2],
///     shape: [1, 2, 3],
///     num_classes: 10,
/// };
/// let images_path = dir.path().join("images.idx.gz");
/// write_idx_dataset(&data, &images_path, &dir.path().join("labels.idx"))?;
///
/// let (pixels, shape) = read_idx_images(&images_path)?;
/// assert_eq!(shape, [1, 2, 3]);
/// assert_eq!(pixels, data.images);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_idx_images(path: &Path) -> Result<(Vec<u8>, [usize; 3]), DataError> {
    let (dims, pixels) = read_idx_file(path, IdxKind::Images)?;
    Ok((pixels, image_shape(&dims)))
}

/// Reads an IDX file of unsigned-byte labels, plain or gzip-compressed.
///
/// Returns one byte per item. The labels are not range-checked here,
/// because the number of classes is not stored in the file.
///
/// # Errors
///
/// The same as [`read_idx_images`], with rank 1 in place of rank 3.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let (_, labels) = read_idx_file(path, IdxKind::Labels)?;
    Ok(labels)
}

/// Reads an image file and its label file into a validated [`Dataset`].
///
/// # Errors
///
/// The errors of [`read_idx_images`] and [`read_idx_labels`],
/// [`DataError::CountMismatch`] if the files contain different numbers of
/// items, and [`DataError::LabelInFile`] for the first label at or above
/// `num_classes`.
pub fn read_idx_dataset(
    images_path: &Path,
    labels_path: &Path,
    name: &str,
    num_classes: usize,
) -> Result<Dataset, DataError> {
    let (images, shape) = read_idx_images(images_path)?;
    let labels = read_idx_labels(labels_path)?;
    dataset_from_parts(
        images,
        shape,
        labels,
        name,
        num_classes,
        images_path,
        labels_path,
    )
}

/// Decodes IDX image and label bytes already in memory, such as embedded
/// files or archive entries. `images_path` and `labels_path` only name the
/// sources in error messages.
pub(crate) fn decode_idx_dataset(
    images_bytes: &[u8],
    images_path: &Path,
    labels_bytes: &[u8],
    labels_path: &Path,
    name: &str,
    num_classes: usize,
) -> Result<Dataset, DataError> {
    let (dims, images) = decode_idx_bytes(images_bytes, images_path, IdxKind::Images)?;
    let (_, labels) = decode_idx_bytes(labels_bytes, labels_path, IdxKind::Labels)?;
    dataset_from_parts(
        images,
        image_shape(&dims),
        labels,
        name,
        num_classes,
        images_path,
        labels_path,
    )
}

fn dataset_from_parts(
    images: Vec<u8>,
    shape: [usize; 3],
    labels: Vec<u8>,
    name: &str,
    num_classes: usize,
    images_path: &Path,
    labels_path: &Path,
) -> Result<Dataset, DataError> {
    let image_count = images.len() / shape.iter().product::<usize>();
    if image_count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            labels_path: labels_path.to_path_buf(),
            images: image_count,
            labels: labels.len(),
        });
    }

    crate::check_labels(&labels, num_classes, labels_path)?;

    let dataset = Dataset {
        name: name.to_string(),
        images,
        labels,
        shape,
        num_classes,
    };
    dataset.validate()?;
    Ok(dataset)
}

/// Writes a data set as an IDX image file and an IDX label file.
///
/// A path ending in `.gz` is written gzip-compressed. Each file is written
/// under a temporary name in its directory and then renamed, so a reader
/// never sees a partly written file. The directories must exist.
///
/// # Errors
///
/// The errors of [`Dataset::validate`], [`DataError::IdxChannels`] if the
/// images have more than one channel (IDX image files have none),
/// [`DataError::IdxDimensionOverflow`] if a dimension exceeds `u32::MAX`, and
/// [`DataError::Io`] if writing fails.
pub fn write_idx_dataset(
    data: &Dataset,
    images_path: &Path,
    labels_path: &Path,
) -> Result<(), DataError> {
    data.validate()?;

    let [channels, rows, columns] = data.shape;
    if channels != 1 {
        return Err(DataError::IdxChannels {
            path: images_path.to_path_buf(),
            channels,
        });
    }

    let image_dims = [
        idx_dimension(data.len(), images_path)?,
        idx_dimension(rows, images_path)?,
        idx_dimension(columns, images_path)?,
    ];
    let label_dims = [idx_dimension(data.len(), labels_path)?];

    write_idx_file(images_path, IDX_IMAGES_MAGIC, &image_dims, &data.images)?;
    write_idx_file(labels_path, IDX_LABELS_MAGIC, &label_dims, &data.labels)
}

fn idx_dimension(value: usize, path: &Path) -> Result<u32, DataError> {
    u32::try_from(value).map_err(|_| DataError::IdxDimensionOverflow {
        path: path.to_path_buf(),
        value,
    })
}

fn write_idx_file(path: &Path, magic: u32, dims: &[u32], body: &[u8]) -> Result<(), DataError> {
    let mut header = Vec::with_capacity(4 + 4 * dims.len());
    header.extend_from_slice(&magic.to_be_bytes());
    for dim in dims {
        header.extend_from_slice(&dim.to_be_bytes());
    }

    let compress = path.extension().is_some_and(|extension| extension == "gz");
    crate::write_atomically(path, |file| {
        let mut writer = BufWriter::new(file);
        if compress {
            let mut encoder = GzEncoder::new(writer, Compression::default());
            encoder.write_all(&header)?;
            encoder.write_all(body)?;
            writer = encoder.finish()?;
        } else {
            writer.write_all(&header)?;
            writer.write_all(body)?;
        }
        writer.flush()
    })
}

/// Converts IDX image dimensions `[count, rows, columns]` to a `[1, rows, columns]` shape.
fn image_shape(dims: &[u32]) -> [usize; 3] {
    // The reader checked the rank and that the product fits in usize, so
    // each dimension fits in usize too.
    [1, dims[1] as usize, dims[2] as usize]
}

fn read_idx_file(path: &Path, kind: IdxKind) -> Result<(Vec<u32>, Vec<u8>), DataError> {
    let file = File::open(path).map_err(|source| DataError::io(path, source))?;
    let file_len = file
        .metadata()
        .map_err(|source| DataError::io(path, source))?
        .len();

    let mut reader = BufReader::new(file);
    let start = reader
        .fill_buf()
        .map_err(|source| DataError::io(path, source))?;

    if start.starts_with(&GZIP_SIGNATURE) {
        decode_idx(MultiGzDecoder::new(reader), None, path, kind)
    } else {
        decode_idx(reader, Some(file_len), path, kind)
    }
}

fn decode_idx_bytes(
    bytes: &[u8],
    path: &Path,
    kind: IdxKind,
) -> Result<(Vec<u32>, Vec<u8>), DataError> {
    if bytes.starts_with(&GZIP_SIGNATURE) {
        decode_idx(MultiGzDecoder::new(bytes), None, path, kind)
    } else {
        decode_idx(bytes, Some(bytes.len() as u64), path, kind)
    }
}

/// Parses one IDX array from `reader`.
///
/// `known_len` is the total length of an uncompressed source, which lets a
/// wrong length fail before the body is read. It is `None` for gzip streams,
/// whose read errors then become [`DataError::Gzip`].
fn decode_idx(
    mut reader: impl Read,
    known_len: Option<u64>,
    path: &Path,
    kind: IdxKind,
) -> Result<(Vec<u32>, Vec<u8>), DataError> {
    let compressed = known_len.is_none();
    let read_error = |source: io::Error| {
        if compressed {
            DataError::Gzip {
                path: path.to_path_buf(),
                source,
            }
        } else {
            DataError::io(path, source)
        }
    };

    // Magic number.
    let mut magic = [0u8; 4];
    let found = read_up_to(&mut reader, &mut magic).map_err(read_error)?;
    if found < magic.len() {
        return Err(DataError::IdxHeaderTruncated {
            path: path.to_path_buf(),
            expected: 4 + 4 * usize::from(kind.rank()),
            found,
        });
    }
    check_magic(magic, path, kind)?;

    // Dimensions.
    let rank = usize::from(kind.rank());
    let header_len = 4 + 4 * rank;
    let mut dim_bytes = vec![0u8; 4 * rank];
    let found = read_up_to(&mut reader, &mut dim_bytes).map_err(read_error)?;
    if found < dim_bytes.len() {
        return Err(DataError::IdxHeaderTruncated {
            path: path.to_path_buf(),
            expected: header_len,
            found: 4 + found,
        });
    }
    let dims: Vec<u32> = dim_bytes
        .chunks_exact(4)
        .map(|chunk| u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect();

    if let Some(axis) = dims.iter().position(|&dim| dim == 0) {
        return Err(DataError::IdxZeroDimension {
            path: path.to_path_buf(),
            axis,
            dims,
        });
    }
    let body_len = dims
        .iter()
        .try_fold(1usize, |product, &dim| {
            usize::try_from(dim)
                .ok()
                .and_then(|dim| product.checked_mul(dim))
        })
        .ok_or_else(|| DataError::IdxTooLarge {
            path: path.to_path_buf(),
            dims: dims.clone(),
        })?;
    let expected_len = header_len as u64 + body_len as u64;

    // Body: an uncompressed source is checked against its known length before
    // reading, a compressed one while reading.
    if let Some(file_len) = known_len {
        if file_len != expected_len {
            return Err(DataError::IdxLength {
                path: path.to_path_buf(),
                expected: expected_len,
                found: file_len,
            });
        }
    }

    let mut body = Vec::with_capacity(body_len.min(MAX_INITIAL_CAPACITY));
    let limit = body_len as u64 + 1;
    (&mut reader)
        .take(limit)
        .read_to_end(&mut body)
        .map_err(read_error)?;

    if body.len() != body_len {
        // One byte too many means there may be more: count the rest for the message.
        let extra = if body.len() > body_len {
            io::copy(&mut reader, &mut io::sink()).map_err(read_error)?
        } else {
            0
        };
        return Err(DataError::IdxLength {
            path: path.to_path_buf(),
            expected: expected_len,
            found: header_len as u64 + body.len() as u64 + extra,
        });
    }

    Ok((dims, body))
}

fn check_magic(magic: [u8; 4], path: &Path, kind: IdxKind) -> Result<(), DataError> {
    let found = u32::from_be_bytes(magic);
    if magic[0] != 0 || magic[1] != 0 {
        return Err(DataError::IdxMagic {
            path: path.to_path_buf(),
            expected: kind.magic(),
            found,
        });
    }
    if magic[2] != UNSIGNED_BYTE {
        return Err(DataError::IdxElementType {
            path: path.to_path_buf(),
            found: magic[2],
        });
    }
    if magic[3] != kind.rank() {
        return Err(DataError::IdxRank {
            path: path.to_path_buf(),
            kind: kind.label(),
            expected: kind.rank(),
            found: magic[3],
        });
    }
    Ok(())
}

/// Fills `buffer` as far as the reader allows and returns the number of bytes read,
/// which is less than `buffer.len()` only at the end of the stream.
fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}
