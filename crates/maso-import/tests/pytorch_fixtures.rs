//! Imported PyTorch models against PyTorch's own outputs and `torch.func.jacrev` Jacobians.
//!
//! The fixtures were written by `python/export_fixtures.py`; PyTorch is not needed here.

use burn::tensor::{Device, Tensor, TensorData};
use maso::arch::Architecture;
use maso::{AffineOptions, FeatureShape, Network, affine_map};
use maso_import::state_dict::{load_state_dict, torch_names};
use maso_import::{ImportError, import_onnx};
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// An f32 tensor of a fixture file, with its shape.
fn read_tensor(file: &SafeTensors, name: &str) -> (Vec<f32>, Vec<usize>) {
    let view = file
        .tensor(name)
        .unwrap_or_else(|_| panic!("fixture tensor {name}"));
    let values = view
        .data()
        .chunks_exact(4)
        .map(|bytes| f32::from_le_bytes(bytes.try_into().unwrap()))
        .collect();
    (values, view.shape().to_vec())
}

fn values(tensor: Tensor<2>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

/// Largest `|a - b|`, relative to the largest `|b|` (at least 1).
fn relative_error(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(
        actual.len(),
        expected.len(),
        "compared arrays differ in length"
    );
    let scale = expected
        .iter()
        .fold(1.0f32, |max, value| max.max(value.abs()));
    let error = actual
        .iter()
        .zip(expected)
        .fold(0.0f32, |max, (a, b)| max.max((a - b).abs()));
    error / scale
}

/// Imports `onnx` and checks outputs, `A[x]` and `b[x]` against `expected`.
fn check_against_pytorch(onnx: &str, expected: &str, input_shape: Option<FeatureShape>) {
    let device = Device::flex();
    let imported = import_onnx(&fixture(onnx), input_shape).unwrap();
    let network = imported.network(&device).unwrap();

    let bytes = std::fs::read(fixture(expected)).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (inputs, input_dims) = read_tensor(&file, "inputs");
    let (outputs, _) = read_tensor(&file, "outputs");
    let (jacobians, _) = read_tensor(&file, "jacobians");
    let (offsets, _) = read_tensor(&file, "offsets");
    let batch = input_dims[0];
    let features = inputs.len() / batch;
    assert_eq!(
        network.input_shape().numel(),
        features,
        "{onnx}: input features"
    );

    let x = Tensor::<2>::from_data(TensorData::new(inputs, [batch, features]), &device);
    let forward = values(network.forward_reference(x.clone(), network.depth()));
    let error = relative_error(&forward, &outputs);
    assert!(
        error < 1e-5,
        "{onnx}: outputs differ from PyTorch's by {error:e} (relative)"
    );

    let map = affine_map(&network, x.clone(), AffineOptions::default()).unwrap();
    let slopes = map.slopes.into_data().try_to_vec::<f32>().unwrap();
    let error = relative_error(&slopes, &jacobians);
    assert!(
        error < 1e-5,
        "{onnx}: A[x] differs from jacrev by {error:e} (relative)"
    );
    let error = relative_error(&values(map.offsets), &offsets);
    assert!(
        error < 1e-4,
        "{onnx}: b[x] differs from PyTorch's offsets by {error:e} (relative)"
    );
}

#[test]
fn mlp_leaky_abs_torchscript_matches_pytorch() {
    check_against_pytorch(
        "mlp_leaky_abs.torchscript.onnx",
        "mlp_leaky_abs.expected.safetensors",
        None,
    );
}

#[test]
fn mlp_leaky_abs_dynamo_matches_pytorch() {
    check_against_pytorch(
        "mlp_leaky_abs.dynamo.onnx",
        "mlp_leaky_abs.expected.safetensors",
        None,
    );
}

#[test]
fn cnn_pool_torchscript_matches_pytorch() {
    check_against_pytorch(
        "cnn_pool.torchscript.onnx",
        "cnn_pool.expected.safetensors",
        None,
    );
}

#[test]
fn cnn_pool_dynamo_matches_pytorch() {
    check_against_pytorch(
        "cnn_pool.dynamo.onnx",
        "cnn_pool.expected.safetensors",
        None,
    );
}

#[test]
fn resnet_bn_torchscript_matches_pytorch() {
    check_against_pytorch(
        "resnet_bn.torchscript.onnx",
        "resnet_bn.expected.safetensors",
        None,
    );
}

#[test]
fn resnet_bn_dynamo_matches_pytorch() {
    check_against_pytorch(
        "resnet_bn.dynamo.onnx",
        "resnet_bn.expected.safetensors",
        None,
    );
}

#[test]
fn matmul_add_with_given_shape_matches_pytorch() {
    check_against_pytorch(
        "matmul_add.onnx",
        "matmul_add.expected.safetensors",
        Some(FeatureShape::flat(6)),
    );
}

#[test]
fn duplicate_constants_through_identity_import() {
    check_against_pytorch(
        "untrained_duplicates.torchscript.onnx",
        "untrained_duplicates.expected.safetensors",
        None,
    );
}

#[test]
fn flat_model_takes_requested_image_shape() {
    let imported = import_onnx(
        &fixture("matmul_add.onnx"),
        Some(FeatureShape::new(1, 2, 3)),
    )
    .unwrap();
    assert_eq!(imported.config.input, FeatureShape::new(1, 2, 3));
    assert_eq!(imported.config.layers[0].kind(), "linear");
    check_against_pytorch(
        "matmul_add.onnx",
        "matmul_add.expected.safetensors",
        Some(FeatureShape::new(1, 2, 3)),
    );
}

#[test]
fn imported_layers_follow_the_graph() {
    let imported = import_onnx(&fixture("resnet_bn.torchscript.onnx"), None).unwrap();
    let kinds: Vec<&str> = imported
        .config
        .layers
        .iter()
        .map(|layer| layer.kind())
        .collect();
    // Both exporters fold the batch norms that follow convolutions into them.
    assert_eq!(
        kinds,
        [
            "conv2d",
            "relu",
            "residual",
            "residual",
            "relu",
            "global-avg-pool",
            "linear"
        ]
    );
    let maso::LayerConfig::Residual { body, skip } = &imported.config.layers[3] else {
        panic!("layer 3 is not a residual block");
    };
    assert_eq!(body.len(), 3, "transition body: conv, relu, conv");
    let skip_kinds: Vec<&str> = skip.iter().map(|layer| layer.kind()).collect();
    assert_eq!(skip_kinds, ["avg-pool2d", "conv2d"]);
    assert_eq!(imported.config.input, FeatureShape::new(3, 8, 8));
}

#[test]
fn trailing_softmax_is_dropped_with_notice() {
    let imported = import_onnx(&fixture("mlp_leaky_abs.torchscript.onnx"), None).unwrap();
    assert_eq!(imported.notices.len(), 1, "notices: {:?}", imported.notices);
    assert!(
        imported.notices[0].contains("Softmax"),
        "{}",
        imported.notices[0]
    );
    assert_eq!(imported.config.layers.last().unwrap().kind(), "linear");
}

#[test]
fn training_mode_batch_norm_is_flagged() {
    let imported = import_onnx(&fixture("train_mode.dynamo.onnx"), None).unwrap();
    assert_eq!(imported.notices.len(), 1, "notices: {:?}", imported.notices);
    assert!(
        imported.notices[0].contains("training mode"),
        "{}",
        imported.notices[0]
    );
    assert!(
        imported.notices[0].contains("model.eval()"),
        "{}",
        imported.notices[0]
    );

    let eval_mode = import_onnx(&fixture("cnn_pool.dynamo.onnx"), None).unwrap();
    assert!(
        eval_mode.notices.is_empty(),
        "notices: {:?}",
        eval_mode.notices
    );
}

#[test]
fn symbolic_input_needs_input_shape() {
    let error = import_onnx(&fixture("matmul_add.onnx"), None).unwrap_err();
    assert!(matches!(error, ImportError::InputShape { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("--input-shape"), "{message}");
    assert!(message.contains("matmul_add.onnx"), "{message}");
}

#[test]
fn conflicting_input_shape_is_rejected() {
    let error = import_onnx(
        &fixture("cnn_pool.torchscript.onnx"),
        Some(FeatureShape::new(1, 28, 28)),
    )
    .unwrap_err();
    assert!(matches!(error, ImportError::InputShape { .. }), "{error}");
    assert!(error.to_string().contains("2 x 12 x 12"), "{error}");
}

#[test]
fn tanh_is_not_piecewise_affine() {
    let error = import_onnx(&fixture("tanh_mlp.torchscript.onnx"), None).unwrap_err();
    let ImportError::NotPiecewiseAffine { node, .. } = &error else {
        panic!("expected NotPiecewiseAffine, got {error}");
    };
    assert_eq!(node.op_type, "Tanh");
    assert_eq!(node.position, 1);
    assert!(error.to_string().contains("max-affine spline"), "{error}");
}

#[test]
fn unsupported_op_names_node_and_position() {
    let error = import_onnx(&fixture("unsupported_op.onnx"), None).unwrap_err();
    let ImportError::UnsupportedOp { node, supported } = &error else {
        panic!("expected UnsupportedOp, got {error}");
    };
    assert_eq!(node.op_type, "Transpose");
    assert_eq!(node.name, "swap_axes");
    assert_eq!(node.position, 1);
    assert!(
        supported.contains("Gemm") && supported.contains("MaxPool"),
        "{supported}"
    );
}

#[test]
fn missing_external_data_names_file() {
    let dir = std::env::temp_dir().join(format!("maso-import-lone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lone = dir.join("resnet_bn.dynamo.onnx");
    std::fs::copy(fixture("resnet_bn.dynamo.onnx"), &lone).unwrap();
    let error = import_onnx(&lone, None).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(error, ImportError::Tensor { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("resnet_bn.dynamo.onnx.data"), "{message}");
    assert!(message.contains("external_data=False"), "{message}");
}

#[test]
fn missing_file_names_path() {
    let error = import_onnx(&fixture("no_such_model.onnx"), None).unwrap_err();
    assert!(matches!(error, ImportError::Io { .. }), "{error}");
    assert!(error.to_string().contains("no_such_model.onnx"), "{error}");
}

#[test]
fn garbage_file_is_a_parse_error() {
    let error = import_onnx(&fixture("state_dict_names.json"), None).unwrap_err();
    assert!(matches!(error, ImportError::Parse { .. }), "{error}");
}

/// A randomly initialized SmallCNN for 1x28x28 inputs.
fn small_cnn(classes: usize, device: &Device) -> Network {
    Architecture::SmallCnn
        .config(FeatureShape::new(1, 28, 28), classes)
        .unwrap()
        .init(device)
        .unwrap()
}

fn builtin(name: &str) -> Architecture {
    match name {
        "mlp" => Architecture::mlp(vec![256, 256]),
        "small-cnn" => Architecture::SmallCnn,
        "large-cnn" => Architecture::LargeCnn,
        "resnet" => Architecture::ResNet {
            blocks: 1,
            width: 32,
        },
        other => panic!("unknown architecture {other} in state_dict_names.json"),
    }
}

#[test]
fn state_dict_names_match_pytorch_modules() {
    let text = std::fs::read_to_string(fixture("state_dict_names.json")).unwrap();
    let expected: BTreeMap<String, BTreeMap<String, Vec<usize>>> =
        serde_json::from_str(&text).unwrap();
    assert_eq!(expected.len(), 4, "one entry per built-in architecture");
    let device = Device::flex();
    for (arch, torch) in expected {
        let network = builtin(&arch)
            .config(FeatureShape::new(1, 28, 28), 10)
            .unwrap()
            .init(&device)
            .unwrap();
        let ours: BTreeMap<String, Vec<usize>> = torch_names(&network, "")
            .into_iter()
            .map(|name| (name.name, name.shape))
            .collect();
        let torch: BTreeMap<String, Vec<usize>> = torch
            .into_iter()
            .filter(|(name, _)| !name.ends_with("num_batches_tracked"))
            .collect();
        assert_eq!(ours, torch, "{arch}: state_dict names and shapes");
    }
}

#[test]
fn small_cnn_state_dict_matches_pytorch() {
    let device = Device::flex();
    let mut network = small_cnn(10, &device);
    load_state_dict(
        &fixture("small_cnn.state_dict.safetensors"),
        &mut network,
        "",
    )
    .unwrap();

    let bytes = std::fs::read(fixture("small_cnn.expected.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (inputs, dims) = read_tensor(&file, "inputs");
    let (outputs, _) = read_tensor(&file, "outputs");
    let (jacobians, _) = read_tensor(&file, "jacobians");
    let x = Tensor::<2>::from_data(TensorData::new(inputs, [dims[0], 784]), &device);
    let logits = values(network.forward_reference(x.clone(), network.depth()));
    let error = relative_error(&logits, &outputs);
    assert!(error < 1e-5, "outputs differ from PyTorch's by {error:e}");
    let map = affine_map(&network, x, AffineOptions::default()).unwrap();
    let slopes = map.slopes.into_data().try_to_vec::<f32>().unwrap();
    let error = relative_error(&slopes, &jacobians);
    assert!(error < 1e-5, "A[x] differs from jacrev by {error:e}");
}

#[test]
fn state_dict_errors_list_each_tensor() {
    let device = Device::flex();
    let bytes = std::fs::read(fixture("small_cnn.state_dict.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, safetensors::tensor::TensorView)> = file
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != "0.bias")
        .collect();
    let extra_data = vec![0u8; 4 * 3];
    tensors.push((
        "99.weight".to_string(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![3], &extra_data)
            .unwrap(),
    ));
    let edited = safetensors::serialize(tensors, None).unwrap();
    let path = std::env::temp_dir().join(format!("maso-import-{}.safetensors", std::process::id()));
    std::fs::write(&path, edited).unwrap();

    // The edited state_dict lacks `0.bias` and has an extra `99.weight`.
    let mut network = small_cnn(10, &device);
    let error = load_state_dict(&path, &mut network, "").unwrap_err();
    let _ = std::fs::remove_file(&path);
    let ImportError::StateDict {
        missing,
        unexpected,
        misshaped,
        ..
    } = &error
    else {
        panic!("expected a StateDict error, got {error}");
    };
    assert_eq!(missing, &["0.bias".to_string()]);
    assert_eq!(unexpected, &["99.weight".to_string()]);
    assert!(misshaped.is_empty(), "{misshaped:?}");
    assert!(
        error.to_string().contains("missing tensors (1): 0.bias"),
        "{error}"
    );

    let mut wider = small_cnn(5, &device);
    let error =
        load_state_dict(&fixture("small_cnn.state_dict.safetensors"), &mut wider, "").unwrap_err();
    let ImportError::StateDict { misshaped, .. } = &error else {
        panic!("expected a StateDict error, got {error}");
    };
    assert_eq!(misshaped.len(), 1, "{misshaped:?}");
    assert!(
        misshaped[0].starts_with("14.weight (expected [5, 128], found [10, 128])"),
        "{misshaped:?}"
    );
}

#[test]
fn state_dict_error_suggests_prefix() {
    let device = Device::flex();
    let bytes = std::fs::read(fixture("small_cnn.state_dict.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let renamed: Vec<(String, safetensors::tensor::TensorView)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (format!("module.{name}"), view))
        .collect();
    let path = std::env::temp_dir().join(format!(
        "maso-import-prefix-{}.safetensors",
        std::process::id()
    ));
    std::fs::write(&path, safetensors::serialize(renamed, None).unwrap()).unwrap();

    let mut network = small_cnn(10, &device);
    let error = load_state_dict(&path, &mut network, "").unwrap_err();
    assert!(
        error.to_string().contains("--prefix \"module.\""),
        "{error}"
    );
    load_state_dict(&path, &mut network, "module.").unwrap();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn torch_save_file_is_recognized() {
    let path = std::env::temp_dir().join(format!("maso-import-pth-{}.pth", std::process::id()));
    std::fs::write(&path, b"PK\x03\x04archive/data.pkl").unwrap();
    let device = Device::flex();
    let mut network = small_cnn(10, &device);
    let error = load_state_dict(&path, &mut network, "").unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert!(matches!(error, ImportError::Parse { .. }), "{error}");
    assert!(
        error.to_string().contains("safetensors.torch.save_file"),
        "{error}"
    );
}

#[test]
fn state_dict_prefix_is_prepended() {
    let device = Device::flex();
    let network = small_cnn(10, &device);
    let names = torch_names(&network, "module.");
    assert_eq!(names[0].name, "module.0.weight");
    assert_eq!(names.last().unwrap().name, "module.14.weight");
}
