//! The `maso` binary end to end: train, resume, eval and templates on the embedded MNIST
//! subset, the errors for bad arguments, and the help pages.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use tempfile::TempDir;

/// Cargo's scratch directory for integration tests. Statics are never dropped, so files
/// shared by several tests live here rather than in a `TempDir`.
fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("maso-cli")
        .join(name)
}

/// Runs `maso` with `args`, with an empty cache directory.
fn maso(args: &[&str]) -> Output {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        let cache = scratch("cache");
        let _ = fs::remove_dir_all(&cache);
        cache
    });
    Command::new(env!("CARGO_BIN_EXE_maso"))
        .args(args)
        .env("MASO_CACHE", cache)
        .env("MASO_LOG", "warn")
        .output()
        .expect("the maso binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output, description: &str) {
    assert!(
        output.status.success(),
        "{description} should succeed, exited with {}; stderr:\n{}",
        output.status,
        stderr(output)
    );
}

fn assert_failure(output: &Output, description: &str) {
    assert!(
        !output.status.success(),
        "{description} should fail; stdout:\n{}",
        stdout(output)
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Trains an MLP with 32 hidden units for `epochs` epochs on 300 embedded MNIST images into
/// `out`.
fn train(out: &Path, epochs: usize, resume: bool) -> Output {
    let epochs = epochs.to_string();
    let mut args = vec![
        "train",
        "--out",
        path_str(out),
        "--arch",
        "mlp",
        "--widths",
        "32",
        "--epochs",
        &epochs,
        "--train-limit",
        "300",
    ];
    if resume {
        args.push("--resume");
    }
    maso(&args)
}

/// Trains the one-epoch checkpoint that tests which only read it share, once per run.
fn trained() -> &'static Path {
    static CHECKPOINT: OnceLock<PathBuf> = OnceLock::new();
    CHECKPOINT.get_or_init(|| {
        let out = scratch("trained");
        let _ = fs::remove_dir_all(&out);
        assert_success(&train(&out, 1, false), "maso train");
        out
    })
}

/// Returns the tensor data of a safetensors file: everything after the 8-byte header length
/// and the JSON header. The header's `__metadata__` map is written in random order, so two files
/// with equal tensors can differ there.
fn tensor_bytes(safetensors: &[u8]) -> &[u8] {
    let header_len = u64::from_le_bytes(safetensors[..8].try_into().unwrap()) as usize;
    &safetensors[8 + header_len..]
}

fn data_rows(csv: &Path) -> usize {
    let text = fs::read_to_string(csv).expect("metrics.csv exists after training");
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .count()
}

#[test]
fn eval_prints_accuracy_json() {
    let model = trained();

    let output = maso(&["eval", "--model", path_str(model)]);
    assert_success(&output, "maso eval");
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&output)).unwrap_or_else(|error| {
            panic!(
                "maso eval should print JSON ({error}):\n{}",
                stdout(&output)
            )
        });
    let accuracy = report["accuracy"]
        .as_f64()
        .unwrap_or_else(|| panic!("the report should have a numeric accuracy: {report}"));
    assert!(
        (0.0..=1.0).contains(&accuracy),
        "accuracy should be a fraction, found {accuracy}"
    );
    let metrics: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(model.join("metrics.json")).unwrap()).unwrap();
    let trained_accuracy = metrics[0]["test_accuracy"]
        .as_f64()
        .unwrap_or_else(|| panic!("metrics.json should have the epoch's test accuracy: {metrics}"));
    assert_eq!(
        accuracy, trained_accuracy,
        "maso eval should reproduce the test accuracy that training recorded"
    );
    assert_eq!(
        report["examples"], 1000,
        "eval should use the 1,000 embedded test images: {report}"
    );
}

#[test]
fn templates_writes_outputs() {
    let model = trained();
    let out = TempDir::new().unwrap();

    let output = maso(&[
        "templates",
        "--model",
        path_str(model),
        "--count",
        "3",
        "--out",
        path_str(out.path()),
    ]);
    assert_success(&output, "maso templates");
    for file in [
        "templates.npy",
        "offsets.npy",
        "templates.png",
        "summary.json",
    ] {
        assert!(
            out.path().join(file).is_file(),
            "maso templates should write {file}"
        );
    }
    let templates = fs::read(out.path().join("templates.npy")).unwrap();
    let header = String::from_utf8_lossy(&templates[..templates.len().min(128)]).into_owned();
    assert!(
        header.contains("'shape': (3, 10, 1, 28, 28"),
        "templates.npy should hold 3 examples x 10 classes x 1x28x28: {header}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    let residual = summary["max_relative_residual"]
        .as_f64()
        .unwrap_or_else(|| panic!("summary.json should have max_relative_residual: {summary}"));
    assert!(
        residual < 1e-4,
        "A[x] x + b[x] should reproduce the logits, max relative residual {residual}"
    );
}

#[test]
fn train_into_checkpoint_needs_resume() {
    let model = trained();

    let output = train(model, 1, false);
    assert_failure(
        &output,
        "maso train into an existing checkpoint without --resume",
    );
    let message = stderr(&output);
    assert!(
        message.contains("--resume"),
        "the message should suggest --resume: {message}"
    );
}

#[test]
fn resume_continues_to_epochs() {
    let dir = TempDir::new().unwrap();
    for entry in fs::read_dir(trained()).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    assert_eq!(
        data_rows(&dir.path().join("metrics.csv")),
        1,
        "the copied run has one epoch"
    );

    let output = train(dir.path(), 2, true);
    assert_success(&output, "maso train --resume --epochs 2");
    assert_eq!(
        data_rows(&dir.path().join("metrics.csv")),
        2,
        "metrics.csv should have one row per epoch after resuming to 2 epochs"
    );
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("model.json")).unwrap()).unwrap();
    let history = meta["history"]
        .as_array()
        .expect("model.json has a history list");
    assert_eq!(history.len(), 2, "model.json should record both epochs");

    let straight = TempDir::new().unwrap();
    assert_success(&train(straight.path(), 2, false), "maso train --epochs 2");
    let resumed_weights = fs::read(dir.path().join("model.safetensors")).unwrap();
    let straight_weights = fs::read(straight.path().join("model.safetensors")).unwrap();
    assert!(
        tensor_bytes(&resumed_weights) == tensor_bytes(&straight_weights),
        "1 epoch plus 1 resumed epoch should give the weights of a straight 2-epoch run"
    );
}

#[test]
fn eval_missing_model_names_path() {
    let missing = "/nonexistent/maso-model";

    let output = maso(&["eval", "--model", missing]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a missing model should exit with status 1"
    );
    let message = stderr(&output);
    assert!(
        message.contains(missing),
        "the message should name {missing}: {message}"
    );
}

#[test]
fn unknown_data_lists_names() {
    let out = TempDir::new().unwrap();
    let checkpoint = out.path().join("checkpoint");

    let output = maso(&[
        "train",
        "--out",
        path_str(&checkpoint),
        "--data",
        "nonsense",
        "--epochs",
        "1",
    ]);
    assert_failure(&output, "maso train --data nonsense");
    let message = stderr(&output);
    assert!(
        message.contains("nonsense"),
        "the message should name the invalid value: {message}"
    );
    for name in ["mnist-embedded", "fashion-mnist", "cifar10"] {
        assert!(
            message.contains(name),
            "the message should list {name}: {message}"
        );
    }
    assert!(
        !checkpoint.exists(),
        "a rejected run should not create its output directory"
    );
}

#[test]
fn unknown_arch_lists_names() {
    let out = TempDir::new().unwrap();
    let checkpoint = out.path().join("checkpoint");

    let output = maso(&[
        "train",
        "--out",
        path_str(&checkpoint),
        "--arch",
        "vgg",
        "--epochs",
        "1",
    ]);
    assert_failure(&output, "maso train --arch vgg");
    let message = stderr(&output);
    assert!(
        message.contains("vgg"),
        "the message should name the unknown architecture: {message}"
    );
    for name in ["mlp", "small-cnn", "large-cnn", "resnet"] {
        assert!(
            message.contains(name),
            "the message should list {name}: {message}"
        );
    }
    assert!(
        !checkpoint.exists(),
        "a rejected run should not create its output directory"
    );
}

#[test]
fn help_pages_exit_zero() {
    let commands: [&[&str]; 5] = [
        &["demo"],
        &["train"],
        &["eval"],
        &["templates"],
        &["data", "fetch"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");

        let output = maso(&args);
        let name = command.join(" ");
        assert_success(&output, &format!("maso {name} --help"));
        assert!(
            stdout(&output).contains("Usage:"),
            "maso {name} --help should print a usage line: {}",
            stdout(&output)
        );
    }
}

#[test]
fn zero_epochs_are_rejected() {
    let out = scratch("zero-epochs");
    let _ = fs::remove_dir_all(&out);
    let output = train(&out, 0, false);
    assert_failure(&output, "training 0 epochs");
    assert!(
        stderr(&output).contains("--epochs 0"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn resume_without_new_epochs_is_rejected() {
    let out = scratch("resume-nothing");
    let _ = fs::remove_dir_all(&out);
    assert_success(&train(&out, 1, false), "training 1 epoch");
    let output = train(&out, 1, true);
    assert_failure(&output, "resuming a finished run");
    assert!(
        stderr(&output).contains("raise --epochs"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn hidden_layer_templates_omit_class_agreement() {
    let model = trained();
    let out = scratch("templates-depth");
    let _ = fs::remove_dir_all(&out);
    let output = maso(&[
        "templates",
        "--model",
        path_str(model),
        "--count",
        "2",
        "--depth",
        "2",
        "--out",
        path_str(&out),
    ]);
    assert_success(&output, "templates of a hidden layer");
    let summary = fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("max_relative_residual"), "{summary}");
    assert!(!summary.contains("matched_filter_agreement"), "{summary}");
}

#[test]
fn partition_distance_runs_on_embedded_data() {
    let out = scratch("partition-distance");
    let _ = fs::remove_dir_all(&out);
    let output = maso(&[
        "experiment",
        "partition-distance",
        "--arch",
        "mlp",
        "--epochs",
        "1",
        "--train-limit",
        "300",
        "--test-limit",
        "50",
        "--out",
        path_str(&out),
    ]);
    assert_success(&output, "the partition-distance experiment");
    let summary = fs::read_to_string(out.join("summary.md")).unwrap();
    for row in [
        "untrained",
        "trained",
        "permuted",
        "pixel L2",
        "penultimate cosine",
        "all layers",
    ] {
        assert!(summary.contains(row), "summary.md lacks {row}: {summary}");
    }
}

fn import_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../maso-import/tests/fixtures")
        .join(name)
}

#[test]
fn import_state_dict_then_templates() {
    let dir = TempDir::new().unwrap();
    let checkpoint = dir.path().join("imported");
    let state_dict = import_fixture("small_cnn.state_dict.safetensors");
    let output = maso(&[
        "import",
        "--state-dict",
        path_str(&state_dict),
        "--arch",
        "small-cnn",
        "--out",
        path_str(&checkpoint),
    ]);
    assert_success(&output, "maso import --state-dict");
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let residual = summary["max_relative_residual"].as_f64().unwrap();
    assert!(residual < 1e-5, "A[x] x + b[x] residual {residual}");
    assert_eq!(summary["outputs"], 10);

    let templates = dir.path().join("templates");
    let output = maso(&[
        "templates",
        "--model",
        path_str(&checkpoint),
        "--count",
        "2",
        "--out",
        path_str(&templates),
    ]);
    assert_success(&output, "maso templates on an imported checkpoint");
    assert!(templates.join("templates.npy").exists());
}

#[test]
fn onnx_model_is_accepted_by_eval() {
    let dir = TempDir::new().unwrap();
    let onnx = import_fixture("cnn_pool.torchscript.onnx");
    let checkpoint = dir.path().join("imported");
    let output = maso(&["import", path_str(&onnx), "--out", path_str(&checkpoint)]);
    assert_success(&output, "maso import FILE.onnx");
    assert!(checkpoint.join("model.json").exists());
    assert!(checkpoint.join("model.safetensors").exists());

    // The fixture takes 2x12x12 inputs, so MNIST images are rejected with both shapes named.
    let output = maso(&["eval", "--model", path_str(&onnx)]);
    assert_failure(&output, "maso eval of a 2x12x12 model on MNIST");
    let message = stderr(&output);
    assert!(message.contains("[2, 12, 12]"), "{message}");
    assert!(message.contains("[1, 28, 28]"), "{message}");
}

#[test]
fn import_help_lists_supported_ops() {
    let output = maso(&["import", "--help"]);
    assert_success(&output, "maso import --help");
    let help = stdout(&output);
    for op in ["Gemm", "Conv", "MaxPool", "BatchNormalization", "Add"] {
        assert!(help.contains(op), "the help should list {op}: {help}");
    }
}

#[test]
fn import_non_piecewise_affine_names_op() {
    let dir = TempDir::new().unwrap();
    let onnx = import_fixture("tanh_mlp.torchscript.onnx");
    let output = maso(&[
        "import",
        path_str(&onnx),
        "--out",
        path_str(&dir.path().join("out")),
    ]);
    assert_failure(&output, "importing a tanh network");
    let message = stderr(&output);
    assert!(message.contains("Tanh"), "{message}");
    assert!(
        message.contains("not a max-affine spline operator"),
        "{message}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "a failed import writes no checkpoint"
    );
}

#[test]
fn slice_through_examples_writes_outputs() {
    let out = scratch("slice-through");
    let output = maso(&[
        "slice",
        "--model",
        path_str(trained()),
        "--through",
        "0,1,2",
        "--layers",
        "2,3",
        "--check",
        "--out",
        path_str(&out),
    ]);
    assert_success(&output, "maso slice --through");
    for file in ["partition.png", "partition.svg", "regions.json"] {
        assert!(out.join(file).is_file(), "{file} is missing");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("regions.json")).unwrap()).unwrap();
    let layers = report["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for layer in layers {
        let regions = layer["regions"].as_u64().unwrap() as usize;
        assert!(regions >= 1);
        assert_eq!(layer["areas"].as_array().unwrap().len(), regions);
        let area: f64 = layer["areas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_f64().unwrap())
            .sum();
        let slice_area = layer["slice_area"].as_f64().unwrap();
        assert!((area - slice_area).abs() < 1e-9 * slice_area);
    }
    assert_eq!(report["inputs"].as_array().unwrap().len(), 3);
    let svg = fs::read_to_string(out.join("partition.svg")).unwrap();
    assert!(roxmltree::Document::parse(&svg).is_ok());
}

#[test]
fn slice_needs_a_plane() {
    let out = scratch("slice-no-plane");
    let output = maso(&[
        "slice",
        "--model",
        path_str(trained()),
        "--out",
        path_str(&out),
    ]);
    assert_failure(&output, "maso slice without a plane");
    assert!(stderr(&output).contains("--through"), "{}", stderr(&output));
}

#[test]
fn toy_partition_writes_figure() {
    let out = scratch("toy-partition");
    let output = maso(&[
        "experiment",
        "toy-partition",
        "--data",
        "circles",
        "--activation",
        "abs",
        "--epochs",
        "50",
        "--out",
        path_str(&out),
    ]);
    assert_success(&output, "maso experiment toy-partition");
    for file in ["toy-partition.png", "toy-partition.svg", "summary.json"] {
        assert!(out.join(file).is_file(), "{file} is missing");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap();
    let layer_1 = summary["regions_trained"][0].as_u64().unwrap();
    let layer_2 = summary["regions_trained"][1].as_u64().unwrap();
    assert!(
        layer_2 >= layer_1,
        "layer 2 refines layer 1: {layer_1} > {layer_2}"
    );

    // The saved toy network slices on its input plane.
    let slice = scratch("toy-input-plane");
    let output = maso(&[
        "slice",
        "--model",
        path_str(&out.join("checkpoint")),
        "--input-plane",
        "--extent=-2,2,-1.5,1.5",
        "--layers",
        "2,4,5",
        "--color",
        "class",
        "--check",
        "--out",
        path_str(&slice),
    ]);
    assert_success(&output, "maso slice --input-plane on the toy checkpoint");
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(slice.join("regions.json")).unwrap()).unwrap();
    assert_eq!(
        report["layers"][1]["regions"].as_u64().unwrap(),
        report["layers"][2]["regions"].as_u64().unwrap(),
        "the output layer is affine and cuts nothing"
    );
}

#[test]
fn complexity_records_every_epochs() {
    let out = scratch("complexity");
    let output = maso(&[
        "experiment",
        "complexity",
        "--epochs",
        "20",
        "--every",
        "10",
        "--samples",
        "8",
        "--out",
        path_str(&out),
    ]);
    assert_success(&output, "maso experiment complexity");
    // Initialization, epoch 10 and epoch 20.
    assert_eq!(data_rows(&out.join("complexity.csv")), 3);
    for file in ["complexity.json", "regions.svg", "local-complexity.svg"] {
        assert!(out.join(file).is_file(), "{file} is missing");
    }
}

#[test]
fn complexity_on_images_records_each_epoch() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("complexity");
    let output = maso(&[
        "experiment",
        "complexity",
        "--images",
        "mnist-embedded",
        "--train-limit",
        "200",
        "--image-epochs",
        "1",
        "--probes",
        "5",
        "--samples",
        "4",
        "--out",
        path_str(&out),
    ]);
    assert_success(&output, "maso experiment complexity --images");
    assert_eq!(data_rows(&out.join("complexity.csv")), 2, "epochs 0 and 1");
    let records: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("complexity.json")).unwrap()).unwrap();
    let first = &records[0];
    for image in 0..3 {
        let square = first["square_regions"][image].as_u64().unwrap();
        let disc = first["disc_regions"][image].as_u64().unwrap();
        assert!(
            disc >= 1 && disc <= square,
            "image {image}: disc {disc}, square {square}"
        );
    }
    assert!(out.join("regions.svg").is_file());
    assert!(out.join("local-complexity.svg").is_file());
}
