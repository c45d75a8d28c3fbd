//! The MNIST subset compiled into the library.

use maso_data::{
    EMBEDDED_MNIST_TEST_CLASS_COUNTS, EMBEDDED_MNIST_TEST_LEN, EMBEDDED_MNIST_TRAIN_CLASS_COUNTS,
    EMBEDDED_MNIST_TRAIN_LEN, embedded_mnist,
};

#[test]
fn embedded_sizes_and_shape() {
    let mnist = embedded_mnist();

    assert_eq!(mnist.train.len(), 5_000);
    assert_eq!(mnist.test.len(), 1_000);
    assert_eq!(EMBEDDED_MNIST_TRAIN_LEN, 5_000);
    assert_eq!(EMBEDDED_MNIST_TEST_LEN, 1_000);
    assert_eq!(mnist.train.shape, [1, 28, 28]);
    assert_eq!(mnist.test.shape, [1, 28, 28]);
    assert_eq!(mnist.train.images.len(), 5_000 * 784);
    assert_eq!(mnist.train.num_classes, 10);
}

#[test]
fn embedded_splits_validate() {
    let mnist = embedded_mnist();

    assert!(mnist.train.validate().is_ok());
    assert!(mnist.test.validate().is_ok());
    assert!(mnist.train.labels.iter().all(|&label| label < 10));
    assert!(mnist.test.labels.iter().all(|&label| label < 10));
}

#[test]
fn embedded_class_counts_match_docs() {
    let mnist = embedded_mnist();

    assert_eq!(
        mnist.train.class_counts(),
        EMBEDDED_MNIST_TRAIN_CLASS_COUNTS
    );
    assert_eq!(mnist.test.class_counts(), EMBEDDED_MNIST_TEST_CLASS_COUNTS);
    assert!(
        EMBEDDED_MNIST_TRAIN_CLASS_COUNTS
            .iter()
            .all(|&count| count > 0)
    );
    assert!(
        EMBEDDED_MNIST_TEST_CLASS_COUNTS
            .iter()
            .all(|&count| count > 0)
    );
}

#[test]
fn embedded_keeps_original_order() {
    let mnist = embedded_mnist();

    // The first labels of the original MNIST training and test files.
    assert_eq!(mnist.train.labels[..8], [5, 0, 4, 1, 9, 2, 1, 3]);
    assert_eq!(mnist.test.labels[..8], [7, 2, 1, 0, 4, 1, 4, 9]);
}

#[test]
fn embedded_images_look_like_digits() {
    let mnist = embedded_mnist();

    for i in 0..mnist.train.len() {
        let image = mnist.train.image(i);
        // MNIST digits are centered with a blank border of at least one pixel,
        // and every image has some ink.
        let top_row_ink: u32 = image[..28].iter().map(|&p| u32::from(p)).sum();
        assert_eq!(top_row_ink, 0, "image {i} has ink in its top row");
        assert!(image.iter().any(|&p| p > 128), "image {i} is blank");
    }
}
