//! IDX reader and writer: round trips and every rejected input.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use maso_data::{
    DataError, Dataset, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_idx_dataset, read_idx_images,
    read_idx_labels, write_idx_dataset,
};
use tempfile::TempDir;

/// Builds the bytes of an IDX file with the given magic number, dimensions and body.
fn idx_bytes(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for dim in dims {
        bytes.extend_from_slice(&dim.to_be_bytes());
    }
    bytes.extend_from_slice(body);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn write_file(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, bytes).unwrap();
    path
}

/// Three images of 2 x 3 pixels with labels 0, 9, 4.
fn sample() -> Dataset {
    Dataset {
        name: "sample".to_string(),
        images: (0..18).map(|value| value * 14).collect(),
        labels: vec![0, 9, 4],
        shape: [1, 2, 3],
        num_classes: 10,
    }
}

fn assert_mentions(error: &DataError, path: &Path) {
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "message does not name {}: {message}",
        path.display()
    );
}

#[test]
fn round_trip_plain_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample();

    for (images_name, labels_name) in [("img.idx", "lbl.idx"), ("img.idx.gz", "lbl.idx.gz")] {
        let images_path = dir.path().join(images_name);
        let labels_path = dir.path().join(labels_name);
        write_idx_dataset(&data, &images_path, &labels_path).unwrap();

        let (pixels, shape) = read_idx_images(&images_path).unwrap();
        assert_eq!(shape, [1, 2, 3]);
        assert_eq!(pixels, data.images);
        assert_eq!(read_idx_labels(&labels_path).unwrap(), data.labels);

        let read = read_idx_dataset(&images_path, &labels_path, "sample", 10).unwrap();
        assert_eq!(read, data);
    }
}

#[test]
fn writer_output_is_standard_idx() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample();
    let images_path = dir.path().join("img.idx");
    let labels_path = dir.path().join("lbl.idx");
    write_idx_dataset(&data, &images_path, &labels_path).unwrap();

    assert_eq!(
        fs::read(&images_path).unwrap(),
        idx_bytes(IDX_IMAGES_MAGIC, &[3, 2, 3], &data.images)
    );
    assert_eq!(
        fs::read(&labels_path).unwrap(),
        idx_bytes(IDX_LABELS_MAGIC, &[3], &data.labels)
    );
}

#[test]
fn gzip_detected_by_content_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let body = [1, 2, 3, 4];
    let path = write_file(
        &dir,
        "labels-without-suffix",
        &gzip(&idx_bytes(IDX_LABELS_MAGIC, &[4], &body)),
    );

    assert_eq!(read_idx_labels(&path).unwrap(), body);
}

#[test]
fn writer_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let images_path = dir.path().join("img.idx.gz");
    let labels_path = dir.path().join("lbl.idx.gz");
    write_idx_dataset(&sample(), &images_path, &labels_path).unwrap();
    // Overwriting an existing file goes through the same rename.
    write_idx_dataset(&sample(), &images_path, &labels_path).unwrap();

    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["img.idx.gz", "lbl.idx.gz"]);
}

#[test]
fn writer_rejects_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let images_path = dir.path().join("missing").join("img.idx");

    let error =
        write_idx_dataset(&sample(), &images_path, &dir.path().join("lbl.idx")).unwrap_err();
    assert!(matches!(&error, DataError::Io { path, .. } if path == &images_path));
}

#[test]
fn writer_rejects_several_channels() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = sample();
    data.shape = [3, 1, 2];

    let error = write_idx_dataset(&data, &dir.path().join("i"), &dir.path().join("l")).unwrap_err();
    assert!(matches!(error, DataError::IdxChannels { channels: 3, .. }));
}

#[test]
fn writer_rejects_invalid_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = sample();
    data.labels[2] = 10;

    let error = write_idx_dataset(&data, &dir.path().join("i"), &dir.path().join("l")).unwrap_err();
    assert!(matches!(
        error,
        DataError::LabelOutOfRange {
            index: 2,
            label: 10,
            ..
        }
    ));
}

#[test]
fn wrong_magic_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "png", b"\x89PNG\r\n\x1a\n0000000000000000");

    let error = read_idx_images(&path).unwrap_err();
    assert!(matches!(
        error,
        DataError::IdxMagic {
            expected: IDX_IMAGES_MAGIC,
            found: 0x8950_4e47,
            ..
        }
    ));
    assert_mentions(&error, &path);
}

#[test]
fn non_byte_element_type_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // Element type 0x0D is a 4-byte float.
    let path = write_file(&dir, "floats", &idx_bytes(0x0000_0d01, &[1], &[0, 0, 0, 0]));

    let error = read_idx_labels(&path).unwrap_err();
    assert!(matches!(
        error,
        DataError::IdxElementType { found: 0x0d, .. }
    ));
    assert_mentions(&error, &path);
}

#[test]
fn wrong_rank_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let labels = write_file(&dir, "labels", &idx_bytes(IDX_LABELS_MAGIC, &[2], &[1, 2]));
    let images = write_file(
        &dir,
        "images",
        &idx_bytes(IDX_IMAGES_MAGIC, &[1, 1, 1], &[7]),
    );

    let error = read_idx_images(&labels).unwrap_err();
    assert!(matches!(
        error,
        DataError::IdxRank {
            expected: 3,
            found: 1,
            ..
        }
    ));
    assert_mentions(&error, &labels);

    let error = read_idx_labels(&images).unwrap_err();
    assert!(matches!(
        error,
        DataError::IdxRank {
            expected: 1,
            found: 3,
            ..
        }
    ));
    assert_mentions(&error, &images);
}

#[test]
fn zero_dimension_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let no_columns = write_file(
        &dir,
        "no-columns",
        &idx_bytes(IDX_IMAGES_MAGIC, &[2, 28, 0], &[]),
    );
    let no_labels = write_file(&dir, "no-labels", &idx_bytes(IDX_LABELS_MAGIC, &[0], &[]));

    let error = read_idx_images(&no_columns).unwrap_err();
    assert!(matches!(error, DataError::IdxZeroDimension { axis: 2, .. }));
    assert_mentions(&error, &no_columns);

    let error = read_idx_labels(&no_labels).unwrap_err();
    assert!(matches!(error, DataError::IdxZeroDimension { axis: 0, .. }));
}

#[test]
fn overflowing_dimensions_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        &dir,
        "huge",
        &idx_bytes(IDX_IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX], &[]),
    );

    let error = read_idx_images(&path).unwrap_err();
    assert!(matches!(error, DataError::IdxTooLarge { .. }));
}

#[test]
fn truncated_header_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let short_magic = write_file(&dir, "two-bytes", &[0, 0]);
    let mut header = idx_bytes(IDX_IMAGES_MAGIC, &[1, 28, 28], &[]);
    header.truncate(10);
    let short_dims = write_file(&dir, "ten-bytes", &header);

    let error = read_idx_images(&short_magic).unwrap_err();
    assert!(matches!(
        error,
        DataError::IdxHeaderTruncated {
            expected: 16,
            found: 2,
            ..
        }
    ));

    let error = read_idx_images(&short_dims).unwrap_err();
    assert!(matches!(
        error,
        DataError::IdxHeaderTruncated {
            expected: 16,
            found: 10,
            ..
        }
    ));
    assert_mentions(&error, &short_dims);
}

#[test]
fn truncated_body_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // Two 2 x 2 images declared, 7 of 8 pixel bytes present: 16 + 7 = 23 bytes.
    let bytes = idx_bytes(IDX_IMAGES_MAGIC, &[2, 2, 2], &[1; 7]);
    let plain = write_file(&dir, "plain", &bytes);
    let compressed = write_file(&dir, "compressed.gz", &gzip(&bytes));

    for path in [&plain, &compressed] {
        let error = read_idx_images(path).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::IdxLength {
                    expected: 24,
                    found: 23,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_mentions(&error, path);
        assert!(error.to_string().contains("truncated"), "{error}");
    }
}

#[test]
fn trailing_bytes_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // Three labels declared, five present: 8 + 5 = 13 bytes.
    let bytes = idx_bytes(IDX_LABELS_MAGIC, &[3], &[1, 2, 3, 4, 5]);
    let plain = write_file(&dir, "plain", &bytes);
    let compressed = write_file(&dir, "compressed.gz", &gzip(&bytes));

    for path in [&plain, &compressed] {
        let error = read_idx_labels(path).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::IdxLength {
                    expected: 11,
                    found: 13,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_mentions(&error, path);
        assert!(error.to_string().contains("extra bytes"), "{error}");
    }
}

#[test]
fn corrupt_gzip_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let compressed = gzip(&idx_bytes(IDX_LABELS_MAGIC, &[1000], &[3; 1000]));
    let cut = write_file(&dir, "cut.gz", &compressed[..compressed.len() / 2]);
    let mut flipped_bytes = compressed.clone();
    // Corrupt the CRC-32 in the gzip trailer.
    let crc = flipped_bytes.len() - 8;
    flipped_bytes[crc] ^= 0xff;
    let flipped = write_file(&dir, "flipped.gz", &flipped_bytes);
    let garbage = write_file(&dir, "garbage.gz", &[0x1f, 0x8b, 0xde, 0xad, 0xbe, 0xef]);

    for path in [&cut, &flipped, &garbage] {
        let error = read_idx_labels(path).unwrap_err();
        assert!(
            matches!(error, DataError::Gzip { .. }),
            "{}: {error:?}",
            path.display()
        );
        assert_mentions(&error, path);
    }
}

#[test]
fn missing_file_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent");

    let error = read_idx_images(&path).unwrap_err();
    assert!(matches!(&error, DataError::Io { path: p, .. } if p == &path));
}

#[test]
fn count_mismatch_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let images = write_file(
        &dir,
        "images",
        &idx_bytes(IDX_IMAGES_MAGIC, &[3, 1, 2], &[0; 6]),
    );
    let labels = write_file(&dir, "labels", &idx_bytes(IDX_LABELS_MAGIC, &[2], &[0, 1]));

    let error = read_idx_dataset(&images, &labels, "pair", 10).unwrap_err();
    assert!(matches!(
        error,
        DataError::CountMismatch {
            images: 3,
            labels: 2,
            ..
        }
    ));
    assert_mentions(&error, &images);
    assert_mentions(&error, &labels);
}

#[test]
fn label_out_of_range_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let images = write_file(
        &dir,
        "images",
        &idx_bytes(IDX_IMAGES_MAGIC, &[3, 1, 1], &[0; 3]),
    );
    let labels = write_file(
        &dir,
        "labels",
        &idx_bytes(IDX_LABELS_MAGIC, &[3], &[9, 10, 11]),
    );

    let error = read_idx_dataset(&images, &labels, "digits", 10).unwrap_err();
    assert!(matches!(
        error,
        DataError::LabelInFile {
            index: 1,
            label: 10,
            num_classes: 10,
            ..
        }
    ));
    assert_mentions(&error, &labels);
}
