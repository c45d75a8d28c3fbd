//! Training an MLP on the embedded MNIST subset: learning, determinism, resuming from a
//! checkpoint, and the errors for bad data and settings.

use burn::module::Module;
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Tensor};
use maso::arch::Architecture;
use maso::checkpoint::{
    CHECKPOINT_FORMAT, CheckpointMeta, load_checkpoint, load_optimizer, save_checkpoint,
};
use maso::data::Normalization;
use maso::penalty::{PenaltyConfig, PenaltyEstimator, PenaltyKind, mean_template_cosine};
use maso::train::{
    LearningRateSchedule, OptimizerConfig, TrainConfig, Trainer, evaluate, stream_seed, streams,
};
use maso::{AffineOptions, FeatureShape, MasoError, Network, affine_map};
use maso_data::{Dataset, Splits};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The flex backend keeps one random generator for the whole process, and weight
/// initialization and `Trainer::run_epoch` both draw from it. Every test that initializes a
/// network holds this lock, so no test draws random numbers while another test's seeded run
/// is in progress.
fn rng_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// 500 training and 200 test images of the embedded MNIST subset.
fn mnist() -> &'static Splits {
    static SPLITS: OnceLock<Splits> = OnceLock::new();
    SPLITS.get_or_init(|| {
        let all = maso_data::embedded_mnist();
        Splits {
            train: all.train.take(500),
            test: all.test.take(200),
        }
    })
}

fn train_config(seed: u64) -> TrainConfig {
    TrainConfig {
        epochs: 2,
        batch_size: 32,
        optimizer: OptimizerConfig::Adam {
            learning_rate: 2e-3,
        },
        seed,
        balanced: true,
        schedule: LearningRateSchedule::Constant,
        penalty: None,
    }
}

fn mlp_config() -> maso::NetworkConfig {
    Architecture::mlp(vec![64])
        .config(FeatureShape::new(1, 28, 28), 10)
        .expect("an MLP with one hidden layer of 64 units is a valid architecture")
}

/// Creates a trainer for an MLP initialized from `seed`, as `maso train` does.
fn new_trainer(seed: u64) -> Trainer {
    let device = Device::flex().autodiff();
    device.seed(stream_seed(seed, streams::INIT, 0));
    let network = mlp_config()
        .init(&device)
        .expect("the MLP builds on the flex device");
    Trainer::new(network, train_config(seed), Normalization::PerImage)
        .expect("the training settings are valid")
}

fn run_epochs(trainer: &mut Trainer, epochs: usize) {
    let splits = mnist();
    for _ in 0..epochs {
        trainer
            .run_epoch(&splits.train, &splits.test, &mut |_| {})
            .expect("an epoch on the embedded MNIST subset succeeds");
    }
}

/// Collects every parameter and running average of `network` as raw bytes, sorted by name.
fn weights(network: &Network) -> Vec<(String, Vec<u8>)> {
    let mut tensors: Vec<(String, Vec<u8>)> = network
        .valid()
        .collect(None, None, false)
        .into_iter()
        .map(|tensor| {
            let name = tensor.name.clone();
            let bytes = tensor
                .into_bytes()
                .expect("a tensor of a live module can be read");
            (name, bytes.to_vec())
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

/// Names of the tensors whose bytes differ between `a` and `b`, which must have the same names.
fn differing(a: &[(String, Vec<u8>)], b: &[(String, Vec<u8>)]) -> Vec<String> {
    let names_a: Vec<&String> = a.iter().map(|(name, _)| name).collect();
    let names_b: Vec<&String> = b.iter().map(|(name, _)| name).collect();
    assert_eq!(
        names_a, names_b,
        "both networks should have the same tensors"
    );
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.1 != y.1)
        .map(|(x, _)| x.0.clone())
        .collect()
}

/// A directory under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("maso-training-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("the temporary directory can be created");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn mlp_training_learns_mnist_subset() {
    let _guard = rng_lock();
    let splits = mnist();
    let mut trainer = new_trainer(1);
    let before = evaluate(
        &trainer.network.valid(),
        &splits.train,
        Normalization::PerImage,
        256,
    )
    .expect("the untrained network evaluates");

    run_epochs(&mut trainer, 2);

    let after = evaluate(
        &trainer.network.valid(),
        &splits.train,
        Normalization::PerImage,
        256,
    )
    .expect("the trained network evaluates");
    let history = &trainer.history;
    assert_eq!(history.len(), 2, "one history entry per epoch");
    assert!(
        after.loss < before.loss,
        "training loss should fall: {} before training, {} after 2 epochs",
        before.loss,
        after.loss
    );
    assert!(
        history[1].train_loss < history[0].train_loss,
        "epoch 2 should have a lower mean training loss than epoch 1: {history:?}"
    );
    assert!(
        history[1].test_accuracy > 0.5,
        "test accuracy after 2 epochs should be well above chance (0.1): {}",
        history[1].test_accuracy
    );
}

#[test]
fn same_seed_gives_identical_weights() {
    let _guard = rng_lock();
    let mut first = new_trainer(3);
    run_epochs(&mut first, 1);
    let mut second = new_trainer(3);
    run_epochs(&mut second, 1);

    let changed = differing(&weights(&first.network), &weights(&second.network));
    assert!(
        changed.is_empty(),
        "two runs with seed 3 differ in {changed:?}"
    );
}

#[test]
fn zero_penalty_weight_matches_plain_training() {
    let _guard = rng_lock();
    let mut plain = new_trainer(5);
    run_epochs(&mut plain, 1);
    let mut zero = new_trainer(5);
    zero.config.penalty = Some(PenaltyConfig {
        weight: 0.0,
        kind: PenaltyKind::Templates {
            estimator: PenaltyEstimator::Exact,
        },
    });
    run_epochs(&mut zero, 1);

    let changed = differing(&weights(&plain.network), &weights(&zero.network));
    assert!(changed.is_empty(), "lambda = 0 changed {changed:?}");
}

#[test]
fn penalty_lowers_template_overlap() {
    let _guard = rng_lock();
    let mut penalized = new_trainer(6);
    penalized.config.penalty = Some(PenaltyConfig {
        weight: 50.0,
        kind: PenaltyKind::Templates {
            estimator: PenaltyEstimator::Rademacher { probes: 1 },
        },
    });
    run_epochs(&mut penalized, 1);
    let mut plain = new_trainer(6);
    run_epochs(&mut plain, 1);

    let penalized_value = penalized.history[0].train_penalty;
    assert!(
        penalized_value > 0.0,
        "the penalty should be logged, found {penalized_value}"
    );
    assert_eq!(plain.history[0].train_penalty, 0.0);

    let splits = mnist();
    let indices: Vec<usize> = (0..64).collect();
    let cosine = |trainer: &Trainer| {
        let network = trainer.network.valid();
        let device = Device::flex();
        let x = maso::data::images_tensor(&splits.test, &indices, trainer.normalization, &device);
        let map = maso::affine_map(&network, x, maso::AffineOptions::default()).unwrap();
        mean_template_cosine(&map.slopes)
    };
    let (with, without) = (cosine(&penalized), cosine(&plain));
    assert!(
        with < without,
        "mean |cos| between templates: {with} with the penalty, {without} without"
    );
}

#[test]
fn different_seed_gives_different_weights() {
    let _guard = rng_lock();
    let mut first = new_trainer(3);
    run_epochs(&mut first, 1);
    let mut second = new_trainer(4);
    run_epochs(&mut second, 1);

    let first = weights(&first.network);
    let changed = differing(&first, &weights(&second.network));
    assert_eq!(
        changed.len(),
        first.len(),
        "seeds 3 and 4 should give different values in every tensor, but only {changed:?} differ"
    );
}

#[test]
fn resumed_training_matches_straight_run() {
    let _guard = rng_lock();
    let dir = TempDir::new("resume");
    let mut straight = new_trainer(5);
    run_epochs(&mut straight, 2);

    let mut interrupted = new_trainer(5);
    run_epochs(&mut interrupted, 1);
    let meta = CheckpointMeta {
        format: CHECKPOINT_FORMAT,
        train_images: None,
        network: interrupted.network.config(),
        architecture: Some(Architecture::mlp(vec![64])),
        normalization: interrupted.normalization,
        dataset: mnist().train.name.clone(),
        train: Some(interrupted.config.clone()),
        history: interrupted.history.clone(),
    };
    save_checkpoint(
        dir.path(),
        &interrupted.network,
        &meta,
        Some(&interrupted.optimizer),
    )
    .expect("the checkpoint after epoch 1 saves");
    drop(interrupted);

    // The same steps as `maso train --resume`.
    let device = Device::flex().autodiff();
    let (network, meta) = load_checkpoint(dir.path(), &device).expect("the checkpoint loads");
    let config = meta
        .train
        .clone()
        .expect("the checkpoint stores its training settings");
    let mut resumed =
        Trainer::new(network, config, meta.normalization).expect("the stored settings are valid");
    resumed.optimizer = load_optimizer(dir.path(), &mut resumed.network, resumed.optimizer)
        .expect("the optimizer state loads");
    resumed.history = meta.history.clone();
    run_epochs(&mut resumed, 1);

    assert_eq!(
        resumed.epochs_done(),
        2,
        "the resumed run should count the saved epoch"
    );
    let changed = differing(&weights(&straight.network), &weights(&resumed.network));
    assert!(
        changed.is_empty(),
        "resuming after epoch 1 should reproduce the straight 2-epoch run bit for bit; differing tensors: {changed:?}"
    );
}

#[test]
fn nan_input_is_non_finite() {
    let _guard = rng_lock();
    let network = mlp_config().init(&Device::flex()).unwrap();
    let mut values = vec![0.5f32; 2 * 784];
    values[800] = f32::NAN;
    let x = Tensor::<2>::from_data(
        burn::tensor::TensorData::new(values, [2, 784]),
        &Device::flex(),
    );

    let error = network
        .check_input(&x)
        .expect_err("a batch with a NaN should be rejected");
    assert!(
        matches!(error, MasoError::NonFinite { count: 1, .. }),
        "expected NonFinite with count 1, got {error:?}"
    );
}

#[test]
fn empty_dataset_is_rejected() {
    let _guard = rng_lock();
    let network = mlp_config().init(&Device::flex()).unwrap();
    let empty = mnist().test.take(0);

    let error = evaluate(&network, &empty, Normalization::PerImage, 64)
        .expect_err("an empty data set should be rejected");
    assert!(
        matches!(error, MasoError::Empty { .. }),
        "expected Empty, got {error:?}"
    );
}

#[test]
fn wrong_image_shape_is_rejected() {
    let _guard = rng_lock();
    let network = mlp_config().init(&Device::flex()).unwrap();
    let data = Dataset {
        name: "tiny".into(),
        images: vec![0; 3 * 8 * 8 * 2],
        labels: vec![0, 1],
        shape: [3, 8, 8],
        num_classes: 10,
    };

    let error = evaluate(&network, &data, Normalization::PerImage, 64)
        .expect_err("8x8 RGB images should not fit a 28x28 MLP");
    assert!(
        matches!(error, MasoError::Shape { .. }),
        "expected Shape, got {error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("[3, 8, 8]"),
        "the message should show the found shape: {message}"
    );
}

#[test]
fn trainer_rejects_invalid_settings() {
    let _guard = rng_lock();
    let device = Device::flex().autodiff();
    let cases = [
        (
            "batch size 0",
            TrainConfig {
                batch_size: 0,
                ..train_config(0)
            },
            "batch size",
        ),
        (
            "learning rate -0.1",
            TrainConfig {
                optimizer: OptimizerConfig::Sgd {
                    learning_rate: -0.1,
                    momentum: 0.9,
                },
                ..train_config(0)
            },
            "learning rate",
        ),
        (
            "learning rate NaN",
            TrainConfig {
                optimizer: OptimizerConfig::Adam {
                    learning_rate: f64::NAN,
                },
                ..train_config(0)
            },
            "learning rate",
        ),
    ];
    for (case, config, name) in cases {
        let network = mlp_config().init(&device).unwrap();
        let result = Trainer::new(network, config, Normalization::PerImage);
        match result {
            Err(MasoError::InvalidConfig { name: found, .. }) => {
                assert_eq!(found, name, "{case}: the error should name the setting")
            }
            Err(other) => panic!("{case}: expected InvalidConfig, got {other:?}"),
            Ok(_) => panic!("{case}: Trainer::new should reject it"),
        }
    }
}

#[test]
fn trainer_rejects_device_without_autodiff() {
    let _guard = rng_lock();
    let network = mlp_config().init(&Device::flex()).unwrap();

    let result = Trainer::new(network, train_config(0), Normalization::PerImage);
    assert!(
        matches!(result, Err(MasoError::InvalidConfig { .. })),
        "a network on a device without autodiff cannot be trained"
    );
}

#[test]
fn affine_map_rejects_out_of_range_depth() {
    let _guard = rng_lock();
    let device = Device::flex();
    let network = mlp_config().init(&device).unwrap();
    let x = Tensor::<2>::zeros([1, 784], &device);
    for depth in [0, network.depth() + 1] {
        let options = AffineOptions {
            depth: Some(depth),
            ..AffineOptions::default()
        };

        let result = affine_map(&network, x.clone(), options);
        assert!(
            matches!(result, Err(MasoError::InvalidConfig { .. })),
            "depth {depth} of a {}-layer network should be InvalidConfig",
            network.depth()
        );
    }
}
