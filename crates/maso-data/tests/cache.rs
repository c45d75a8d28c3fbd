//! Loading MNIST and Fashion-MNIST from the cache directory.

use std::fs;
use std::path::Path;

use maso_data::{CACHE_FILES, DataError, Dataset, DatasetName, load, write_idx_dataset};

/// Writes a small data set of `shape` images into `cache/NAME/` as a fetch would.
fn write_cache(cache: &Path, name: DatasetName, shape: [usize; 3], train: usize, test: usize) {
    let dir = cache.join(name.as_str());
    fs::create_dir_all(&dir).unwrap();
    let make = |count: usize| Dataset {
        name: "written".to_string(),
        images: vec![17; count * shape.iter().product::<usize>()],
        labels: (0..count).map(|i| (i % 10) as u8).collect(),
        shape,
        num_classes: 10,
    };
    let paths = CACHE_FILES.map(|file| dir.join(file));
    write_idx_dataset(&make(train), &paths[0], &paths[1]).unwrap();
    write_idx_dataset(&make(test), &paths[2], &paths[3]).unwrap();
}

#[test]
fn load_reads_written_cache() {
    let cache = tempfile::tempdir().unwrap();
    write_cache(cache.path(), DatasetName::FashionMnist, [1, 28, 28], 30, 20);

    let splits = load(DatasetName::FashionMnist, cache.path()).unwrap();
    assert_eq!(splits.train.len(), 30);
    assert_eq!(splits.test.len(), 20);
    assert_eq!(splits.train.name, "fashion-mnist/train");
    assert_eq!(splits.test.name, "fashion-mnist/test");
    assert_eq!(
        splits.test.labels[..12],
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    );
}

#[test]
fn load_missing_cache_says_fetch() {
    let cache = tempfile::tempdir().unwrap();

    let error = load(DatasetName::FashionMnist, cache.path()).unwrap_err();
    assert!(
        matches!(&error, DataError::NotCached { dataset, .. } if dataset == "fashion-mnist"),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("maso data fetch fashion-mnist"),
        "{error}"
    );
}

#[test]
fn load_names_missing_file() {
    let cache = tempfile::tempdir().unwrap();
    write_cache(cache.path(), DatasetName::Mnist, [1, 28, 28], 10, 10);
    let removed = cache.path().join("mnist").join(CACHE_FILES[3]);
    fs::remove_file(&removed).unwrap();

    let error = load(DatasetName::Mnist, cache.path()).unwrap_err();
    assert!(
        matches!(&error, DataError::NotCached { path, .. } if path == &removed),
        "{error:?}"
    );
}

#[test]
fn load_rejects_wrong_shape() {
    let cache = tempfile::tempdir().unwrap();
    write_cache(cache.path(), DatasetName::Mnist, [1, 32, 32], 10, 10);

    let error = load(DatasetName::Mnist, cache.path()).unwrap_err();
    assert!(
        matches!(
            error,
            DataError::ShapeMismatch {
                expected: [1, 28, 28],
                found: [1, 32, 32],
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn load_rejects_truncated_cache_file() {
    let cache = tempfile::tempdir().unwrap();
    write_cache(cache.path(), DatasetName::Mnist, [1, 28, 28], 10, 10);
    let images = cache.path().join("mnist").join(CACHE_FILES[0]);
    let bytes = fs::read(&images).unwrap();
    fs::write(&images, &bytes[..bytes.len() - 10]).unwrap();

    let error = load(DatasetName::Mnist, cache.path()).unwrap_err();
    assert!(
        matches!(&error, DataError::Gzip { path, .. } if path == &images),
        "{error:?}"
    );
}
