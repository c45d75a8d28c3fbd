//! Dataset methods, validation and data set names.

use maso_data::{DataError, Dataset, DatasetName};

/// Four images of 1 x 1 x 2 pixels; image `i` contains `[10 * i, 10 * i + 1]`.
fn sample() -> Dataset {
    Dataset {
        name: "sample".to_string(),
        images: vec![0, 1, 10, 11, 20, 21, 30, 31],
        labels: vec![3, 1, 2, 1],
        shape: [1, 1, 2],
        num_classes: 4,
    }
}

#[test]
fn accessors_report_sizes() {
    let data = sample();

    assert_eq!(data.len(), 4);
    assert!(!data.is_empty());
    assert_eq!(data.image_len(), 2);
    assert_eq!(data.image(2), &[20, 21]);
    assert_eq!(data.class_counts(), vec![0, 2, 1, 1]);
}

#[test]
fn debug_output_omits_pixels() {
    let text = format!("{:?}", sample());

    assert!(text.contains("len: 4"), "{text}");
    assert!(text.contains("images_bytes: 8"), "{text}");
    assert!(!text.contains("31"), "{text}");
}

#[test]
fn subset_copies_in_index_order() {
    let data = sample();
    let picked = data.subset(&[3, 0, 3]);

    assert_eq!(picked.images, vec![30, 31, 0, 1, 30, 31]);
    assert_eq!(picked.labels, vec![1, 3, 1]);
    assert_eq!(picked.shape, data.shape);
    assert_eq!(picked.num_classes, data.num_classes);
    assert!(picked.validate().is_ok());
}

#[test]
fn take_keeps_prefix_and_saturates() {
    let data = sample();

    let two = data.take(2);
    assert_eq!(two.images, vec![0, 1, 10, 11]);
    assert_eq!(two.labels, vec![3, 1]);

    assert_eq!(data.take(100), data);
    assert!(data.take(0).is_empty());
}

#[test]
fn validate_accepts_sample() {
    assert!(sample().validate().is_ok());
}

#[test]
fn validate_rejects_empty() {
    let mut data = sample();
    data.images.clear();
    data.labels.clear();

    let error = data.validate().unwrap_err();
    assert!(matches!(&error, DataError::EmptyDataset { name } if name == "sample"));
}

#[test]
fn validate_rejects_zero_dimension() {
    let mut data = sample();
    data.shape = [1, 0, 2];

    let error = data.validate().unwrap_err();
    assert!(matches!(
        error,
        DataError::InvalidShape {
            shape: [1, 0, 2],
            ..
        }
    ));
}

#[test]
fn validate_rejects_length_mismatch() {
    let mut data = sample();
    data.images.pop();

    let error = data.validate().unwrap_err();
    assert!(matches!(
        error,
        DataError::InconsistentLength {
            pixels: 7,
            labels: 4,
            image_len: 2,
            expected: 8,
            ..
        }
    ));
}

#[test]
fn validate_rejects_label_at_num_classes() {
    let mut data = sample();
    data.labels[3] = 4;

    let error = data.validate().unwrap_err();
    assert!(matches!(
        error,
        DataError::LabelOutOfRange {
            index: 3,
            label: 4,
            num_classes: 4,
            ..
        }
    ));
    assert!(error.to_string().contains("sample"), "{error}");
}

#[test]
fn names_parse_and_display() {
    for (text, name) in [
        ("mnist", DatasetName::Mnist),
        ("fashion-mnist", DatasetName::FashionMnist),
        ("cifar10", DatasetName::Cifar10),
    ] {
        assert_eq!(text.parse::<DatasetName>().unwrap(), name);
        assert_eq!(name.to_string(), text);
    }
}

#[test]
fn unknown_name_lists_valid_names() {
    let error = "Fashion_MNIST".parse::<DatasetName>().unwrap_err();

    assert!(matches!(&error, DataError::UnknownDataset { name, .. } if name == "Fashion_MNIST"));
    let message = error.to_string();
    assert!(
        message.contains("mnist, fashion-mnist, cifar10"),
        "{message}"
    );
}

#[test]
fn names_know_shapes_and_sizes() {
    assert_eq!(DatasetName::Mnist.shape(), [1, 28, 28]);
    assert_eq!(DatasetName::Cifar10.shape(), [3, 32, 32]);
    assert_eq!(DatasetName::FashionMnist.split_sizes(), (60_000, 10_000));
    assert_eq!(DatasetName::Cifar10.split_sizes(), (50_000, 10_000));
}
