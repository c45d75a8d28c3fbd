//! Checkpoints: exact round trips, the errors for damaged or mismatched files, and saves that
//! fail halfway.

use burn::optim::GradientsParams;
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Distribution, Int, Tensor};
use maso::arch::Architecture;
use maso::checkpoint::{
    CHECKPOINT_FORMAT, CheckpointMeta, load_checkpoint, load_optimizer, save_checkpoint,
};
use maso::data::Normalization;
use maso::train::{OptimizerConfig, cross_entropy};
use maso::{FeatureShape, MasoError, Mode, Network};
use std::fs;
use std::path::{Path, PathBuf};

/// A directory under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("maso-checkpoint-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("the temporary directory can be created");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mnist_shape() -> FeatureShape {
    FeatureShape::new(1, 28, 28)
}

fn meta_for(network: &Network, architecture: Architecture) -> CheckpointMeta {
    CheckpointMeta {
        format: CHECKPOINT_FORMAT,
        train_images: None,
        network: network.config(),
        architecture: Some(architecture),
        normalization: Normalization::PerImage,
        dataset: "mnist-embedded/train".into(),
        train: None,
        history: Vec::new(),
    }
}

/// Builds a SmallCNN and moves its batch-norm running averages away from 0 and 1.
fn small_cnn(device: &Device) -> Network {
    let network = Architecture::SmallCnn
        .config(mnist_shape(), 10)
        .expect("SmallCNN fits 28x28 inputs")
        .init(device)
        .expect("SmallCNN builds on the flex device");
    for _ in 0..2 {
        let x = Tensor::<2>::random([8, 784], Distribution::Normal(0.5, 2.0), device);
        let _ = network.forward(x, Mode::Train);
    }
    network
}

/// Builds an MLP with one hidden layer of `width` units.
fn mlp(width: usize) -> Network {
    Architecture::mlp(vec![width])
        .config(mnist_shape(), 10)
        .expect("the MLP is a valid architecture")
        .init(&Device::flex())
        .expect("the MLP builds on the flex device")
}

/// Builds an MLP with one hidden layer of `width` units and saves it into `dir`.
fn save_mlp(dir: &Path, width: usize) -> Network {
    let network = mlp(width);
    let meta = meta_for(&network, Architecture::mlp(vec![width]));
    save_checkpoint(dir, &network, &meta, None).expect("the MLP checkpoint saves");
    network
}

/// Collects every parameter and running average of `network` as raw bytes, sorted by name.
fn tensors(network: &Network) -> Vec<(String, Vec<u8>)> {
    let mut tensors: Vec<(String, Vec<u8>)> = network
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

fn as_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes(chunk.try_into().unwrap()))
        .collect()
}

/// Replaces the first occurrence of `from` in `dir/model.json`, which must contain it.
fn edit_model_json(dir: &Path, from: &str, to: &str) {
    let path = dir.join("model.json");
    let text = fs::read_to_string(&path).expect("model.json exists after a save");
    assert!(
        text.contains(from),
        "model.json should contain `{from}`:\n{text}"
    );
    fs::write(&path, text.replacen(from, to, 1)).expect("model.json can be rewritten");
}

fn load_error(dir: &Path) -> MasoError {
    match load_checkpoint(dir, &Device::flex()) {
        Ok(_) => panic!("loading the checkpoint in {} should fail", dir.display()),
        Err(error) => error,
    }
}

fn assert_names_file(error: &MasoError, file: &Path) {
    let message = error.to_string();
    let file = file.display().to_string();
    assert!(
        message.contains(&file),
        "the message should name {file}: {message}"
    );
}

fn partial_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("the checkpoint directory can be listed")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".partial"))
        .collect()
}

#[test]
fn small_cnn_round_trip_is_exact() {
    let dir = TempDir::new("round-trip");
    let device = Device::flex();
    let network = small_cnn(&device);
    let meta = meta_for(&network, Architecture::SmallCnn);
    save_checkpoint(dir.path(), &network, &meta, None).expect("the checkpoint saves");

    let (loaded, loaded_meta) = load_checkpoint(dir.path(), &device).expect("the checkpoint loads");

    assert_eq!(loaded_meta, meta, "model.json should round-trip");
    assert_eq!(
        loaded.config(),
        network.config(),
        "the architecture should round-trip"
    );
    let saved = tensors(&network);
    let restored = tensors(&loaded);
    let saved_names: Vec<&String> = saved.iter().map(|(name, _)| name).collect();
    let restored_names: Vec<&String> = restored.iter().map(|(name, _)| name).collect();
    assert_eq!(
        restored_names, saved_names,
        "the same tensors should come back"
    );
    for ((name, expected), (_, found)) in saved.iter().zip(&restored) {
        assert!(
            expected == found,
            "tensor {name} should come back bit for bit"
        );
    }

    let running_means: Vec<&(String, Vec<u8>)> = saved
        .iter()
        .filter(|(name, _)| name.ends_with("running_mean"))
        .collect();
    assert_eq!(
        running_means.len(),
        3,
        "SmallCNN has three batch-norm layers: {saved_names:?}"
    );
    for (name, bytes) in running_means {
        assert!(
            as_f32(bytes).iter().any(|&mean| mean != 0.0),
            "{name} should have moved away from 0 in the training-mode passes"
        );
    }

    let x = Tensor::<2>::random([4, 784], Distribution::Default, &device);
    let expected = network
        .forward_reference(x.clone(), network.depth())
        .into_data();
    let found = loaded.forward_reference(x, loaded.depth()).into_data();
    assert_eq!(
        found.as_bytes(),
        expected.as_bytes(),
        "eval-mode outputs of the saved and the loaded network should be identical"
    );
}

#[test]
fn directory_without_model_json() {
    let dir = TempDir::new("no-json");

    let error = load_error(dir.path());
    assert!(
        matches!(error, MasoError::Io { .. }),
        "expected Io, got {error:?}"
    );
    assert_names_file(&error, &dir.path().join("model.json"));
}

#[test]
fn invalid_json_in_model_json() {
    let dir = TempDir::new("invalid-json");
    fs::write(
        dir.path().join("model.json"),
        "{\"format\": 1, \"network\": ",
    )
    .unwrap();

    let error = load_error(dir.path());
    assert!(
        matches!(error, MasoError::Json { .. }),
        "expected Json, got {error:?}"
    );
    assert_names_file(&error, &dir.path().join("model.json"));
}

#[test]
fn unknown_layer_type_in_model_json() {
    let dir = TempDir::new("unknown-layer");
    save_mlp(dir.path(), 16);
    edit_model_json(dir.path(), "\"type\": \"relu\"", "\"type\": \"gelu\"");

    let error = load_error(dir.path());
    assert!(
        matches!(error, MasoError::Json { .. }),
        "expected Json, got {error:?}"
    );
    assert_names_file(&error, &dir.path().join("model.json"));
    let message = error.to_string();
    assert!(
        message.contains("gelu"),
        "the message should name the unknown type: {message}"
    );
}

#[test]
fn truncated_weights_file() {
    let dir = TempDir::new("truncated");
    save_mlp(dir.path(), 16);
    let weights = dir.path().join("model.safetensors");
    let bytes = fs::read(&weights).unwrap();
    fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();

    let error = load_error(dir.path());
    assert!(
        matches!(error, MasoError::Checkpoint { .. }),
        "expected Checkpoint, got {error:?}"
    );
    assert_names_file(&error, &weights);
}

#[test]
fn weights_of_another_width() {
    let dir = TempDir::new("other-width");
    save_mlp(dir.path(), 16);
    edit_model_json(dir.path(), "\"out_features\": 16", "\"out_features\": 32");

    let error = load_error(dir.path());
    assert!(
        matches!(error, MasoError::Checkpoint { .. }),
        "expected Checkpoint, got {error:?}"
    );
    assert_names_file(&error, &dir.path().join("model.safetensors"));
    let message = error.to_string();
    assert!(
        message.contains("layers.1.Linear.weight"),
        "the message should name the mis-shaped hidden weight: {message}"
    );
    assert!(
        message.contains("another architecture"),
        "the message should say the weights belong to another architecture: {message}"
    );
    assert!(
        !message.contains("truncated"),
        "the message should not blame a truncated file for a shape mismatch: {message}"
    );
}

#[test]
fn missing_weights_file() {
    let dir = TempDir::new("no-weights");
    save_mlp(dir.path(), 16);
    let weights = dir.path().join("model.safetensors");
    fs::remove_file(&weights).unwrap();

    let error = load_error(dir.path());
    assert!(
        matches!(error, MasoError::Io { .. }),
        "expected Io, got {error:?}"
    );
    assert_names_file(&error, &weights);
}

#[test]
fn unsupported_format_number() {
    let dir = TempDir::new("format");
    save_mlp(dir.path(), 16);
    let unsupported = CHECKPOINT_FORMAT + 1;
    edit_model_json(
        dir.path(),
        &format!("\"format\": {CHECKPOINT_FORMAT}"),
        &format!("\"format\": {unsupported}"),
    );

    let error = load_error(dir.path());
    assert!(
        matches!(error, MasoError::Checkpoint { .. }),
        "expected Checkpoint, got {error:?}"
    );
    assert_names_file(&error, &dir.path().join("model.json"));
    let message = error.to_string();
    assert!(
        message.contains(&format!("format {unsupported}")),
        "the message should show the unsupported format: {message}"
    );
}

#[test]
fn save_leaves_no_partial_files() {
    let dir = TempDir::new("no-partial");
    let network = save_mlp(dir.path(), 16);
    let optimizer = OptimizerConfig::Adam {
        learning_rate: 1e-3,
    }
    .init();
    save_checkpoint(
        dir.path(),
        &network,
        &meta_for(&network, Architecture::mlp(vec![16])),
        Some(&optimizer),
    )
    .expect("saving over a checkpoint succeeds");

    assert_eq!(
        partial_files(dir.path()),
        Vec::<String>::new(),
        "no temporary file should remain"
    );
    for file in ["model.json", "model.safetensors", "optimizer.bpk"] {
        assert!(
            dir.path().join(file).is_file(),
            "{file} should exist after the save"
        );
    }
}

#[test]
fn failed_weights_write_keeps_previous() {
    let dir = TempDir::new("failed-weights");
    let previous = save_mlp(dir.path(), 16);
    // A directory in the way of the temporary weights file makes the save fail before any
    // file of the previous checkpoint is replaced.
    fs::create_dir(dir.path().join("model.safetensors.partial")).unwrap();
    let other = mlp(16);
    let result = save_checkpoint(
        dir.path(),
        &other,
        &meta_for(&other, Architecture::mlp(vec![16])),
        None,
    );

    assert!(
        result.is_err(),
        "the save should fail when its temporary file cannot be written"
    );
    let (loaded, _) =
        load_checkpoint(dir.path(), &Device::flex()).expect("the previous checkpoint still loads");
    assert!(
        tensors(&loaded) == tensors(&previous),
        "the previous checkpoint's weights should be unchanged"
    );
}

#[test]
fn failed_json_write_keeps_previous_readable() {
    let dir = TempDir::new("failed-json");
    let previous = save_mlp(dir.path(), 16);
    fs::create_dir(dir.path().join("model.json.partial")).unwrap();
    let mut meta = meta_for(&previous, Architecture::mlp(vec![16]));
    meta.dataset = "a later run".into();

    let error =
        save_checkpoint(dir.path(), &previous, &meta, None).expect_err("the save should fail");
    assert_names_file(&error, &dir.path().join("model.json.partial"));
    let (_, loaded_meta) =
        load_checkpoint(dir.path(), &Device::flex()).expect("the previous checkpoint still loads");
    assert_eq!(
        loaded_meta.dataset, "mnist-embedded/train",
        "model.json should still be the previous one"
    );
}

#[test]
fn optimizer_state_of_another_network() {
    let dir = TempDir::new("other-optimizer");
    let device = Device::flex().autodiff();
    let network = Architecture::mlp(vec![16])
        .config(mnist_shape(), 10)
        .unwrap()
        .init(&device)
        .unwrap();
    let mut optimizer = OptimizerConfig::Adam {
        learning_rate: 1e-3,
    }
    .init();
    let x = Tensor::<2>::random([4, 784], Distribution::Default, &device);
    let labels = Tensor::<1, Int>::from_data([0, 1, 2, 3], &device);
    let loss = cross_entropy(network.forward(x, Mode::Train), labels);
    let grads = GradientsParams::from_grads(loss.backward(), &network);
    let network = optimizer.step(1e-3, network, grads);
    let meta = meta_for(&network, Architecture::mlp(vec![16]));
    save_checkpoint(dir.path(), &network, &meta, Some(&optimizer)).expect("the checkpoint saves");
    let mut other = small_cnn(&device);

    let fresh = OptimizerConfig::Adam {
        learning_rate: 1e-3,
    }
    .init();
    let error = match load_optimizer(dir.path(), &mut other, fresh) {
        Ok(_) => panic!("the MLP's Adam state should not load into a SmallCNN"),
        Err(error) => error,
    };
    assert!(
        matches!(error, MasoError::Checkpoint { .. }),
        "expected Checkpoint, got {error:?}"
    );
    assert_names_file(&error, &dir.path().join("optimizer.bpk"));
    let message = error.to_string();
    assert!(
        message.contains("layers.1.Linear.weight"),
        "the message should name a parameter that the network lacks: {message}"
    );
}
