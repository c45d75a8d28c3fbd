//! CIFAR-10 batch reader and loading CIFAR-10 from the cache directory.

use std::fs;
use std::path::Path;

use maso_data::{
    CIFAR10_RECORD_LEN, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, DataError, DatasetName,
    read_cifar10_batch,
};

/// Builds a batch with one record per label; the pixels of record `i` are all `i + 1`.
fn batch_bytes(labels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (i, &label) in labels.iter().enumerate() {
        bytes.push(label);
        bytes.extend(std::iter::repeat_n(i as u8 + 1, CIFAR10_RECORD_LEN - 1));
    }
    bytes
}

/// Writes the five training batches (labels 0 and 1 each) and the test batch (label 9).
fn write_batches(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for file in CIFAR10_TRAIN_FILES {
        fs::write(dir.join(file), batch_bytes(&[0, 1])).unwrap();
    }
    fs::write(dir.join(CIFAR10_TEST_FILE), batch_bytes(&[9])).unwrap();
}

#[test]
fn batch_splits_labels_and_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("batch.bin");
    fs::write(&path, batch_bytes(&[6, 2])).unwrap();

    let (pixels, labels) = read_cifar10_batch(&path).unwrap();
    assert_eq!(labels, vec![6, 2]);
    assert_eq!(pixels.len(), 2 * 3072);
    assert!(pixels[..3072].iter().all(|&p| p == 1));
    assert!(pixels[3072..].iter().all(|&p| p == 2));
}

#[test]
fn batch_length_not_record_multiple_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = batch_bytes(&[0, 1]);
    bytes.pop();
    let short = dir.path().join("short.bin");
    fs::write(&short, &bytes).unwrap();
    let empty = dir.path().join("empty.bin");
    fs::write(&empty, []).unwrap();

    let error = read_cifar10_batch(&short).unwrap_err();
    assert!(matches!(
        error,
        DataError::CifarLength {
            found: 6145,
            record_len: 3073,
            ..
        }
    ));
    assert!(
        error.to_string().contains(&short.display().to_string()),
        "{error}"
    );

    let error = read_cifar10_batch(&empty).unwrap_err();
    assert!(matches!(error, DataError::CifarLength { found: 0, .. }));
}

#[test]
fn load_reads_all_batches() {
    let cache = tempfile::tempdir().unwrap();
    write_batches(&cache.path().join("cifar10"));

    let splits = maso_data::load(DatasetName::Cifar10, cache.path()).unwrap();
    assert_eq!(splits.train.len(), 10);
    assert_eq!(splits.train.labels, [0, 1].repeat(5));
    assert_eq!(splits.train.shape, [3, 32, 32]);
    assert_eq!(splits.test.labels, vec![9]);
    assert_eq!(splits.test.name, "cifar10/test");
}

#[test]
fn load_accepts_extracted_archive_dir() {
    let cache = tempfile::tempdir().unwrap();
    write_batches(&cache.path().join("cifar10").join("cifar-10-batches-bin"));

    let splits = maso_data::load(DatasetName::Cifar10, cache.path()).unwrap();
    assert_eq!(splits.train.len(), 10);
    assert_eq!(splits.test.len(), 1);
}

#[test]
fn load_names_missing_batch() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("cifar10");
    write_batches(&dir);
    fs::remove_file(dir.join("data_batch_4.bin")).unwrap();

    let error = maso_data::load(DatasetName::Cifar10, cache.path()).unwrap_err();
    assert!(
        matches!(&error, DataError::CifarMissing { path, .. } if path.ends_with("data_batch_4.bin")),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&dir.display().to_string()),
        "{error}"
    );
}

#[test]
fn load_rejects_label_ten() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("cifar10");
    write_batches(&dir);
    fs::write(dir.join(CIFAR10_TEST_FILE), batch_bytes(&[3, 10])).unwrap();

    let error = maso_data::load(DatasetName::Cifar10, cache.path()).unwrap_err();
    assert!(
        matches!(&error, DataError::LabelInFile { path, index: 1, label: 10, .. } if path.ends_with(CIFAR10_TEST_FILE)),
        "{error:?}"
    );
}

#[test]
fn fetch_refuses_cifar10() {
    let cache = tempfile::tempdir().unwrap();

    let error = maso_data::fetch(DatasetName::Cifar10, cache.path(), &|_| {}).unwrap_err();
    assert!(matches!(error, DataError::FetchUnsupported { .. }));
    assert!(error.to_string().contains("data_batch_1.bin"), "{error}");
}
