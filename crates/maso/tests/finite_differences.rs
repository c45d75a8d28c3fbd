//! Pullbacks and `A[x]` against finite differences of the forward pass, in f64.

mod common;

use burn::tensor::{Distribution, Tensor};
use common::{build, f64_device, random_input};
use maso::{AffineOptions, FeatureShape, LayerConfig, MasoLayer, Mode, NetworkConfig, affine_map};

const STEP: f64 = 1e-6;

fn dot(a: Tensor<2>, b: Tensor<2>) -> f64 {
    (a * b).sum().into_scalar::<f64>()
}

/// Checks `<g, J v> = <J^T g, v>` for one layer, with `J v` from central differences of the
/// layer's reference forward pass and `J^T g` from its pullback.
fn check_pullback(input: FeatureShape, config: LayerConfig) {
    let device = f64_device();
    let network = build(&NetworkConfig::new(input, vec![config.clone()]), &device);
    let layer = &network.layers[0];
    let x = random_input(&network, 3, &device);
    let v = random_input(&network, 3, &device);
    let outputs = layer.output_shape().numel();
    let g = Tensor::<2>::random([3, outputs], Distribution::Normal(0.0, 1.0), &device);

    let plus = layer.forward_reference(x.clone() + v.clone().mul_scalar(STEP));
    let minus = layer.forward_reference(x.clone() - v.clone().mul_scalar(STEP));
    let directional = dot(g.clone(), (plus - minus).div_scalar(2.0 * STEP));

    let piece = layer.select_piece(&x, Mode::Eval);
    let pulled = dot(layer.pullback(g, &piece, 1), v);
    let error = (directional - pulled).abs() / directional.abs().max(1.0);
    assert!(
        error < 1e-7,
        "{config:?}: finite difference {directional}, pullback {pulled}"
    );
}

#[test]
fn pullback_linear() {
    check_pullback(FeatureShape::new(2, 3, 3), LayerConfig::linear(5));
}

#[test]
fn pullback_linear_without_bias() {
    check_pullback(
        FeatureShape::flat(7),
        LayerConfig::Linear {
            out_features: 4,
            bias: false,
        },
    );
}

#[test]
fn pullback_conv_strided_padded_dilated() {
    let config = LayerConfig::Conv2d {
        out_channels: 3,
        kernel: [3, 2],
        stride: [2, 1],
        padding: [1, 1],
        dilation: [1, 2],
        bias: true,
    };
    check_pullback(FeatureShape::new(2, 8, 7), config);
}

#[test]
fn pullback_activations() {
    for config in [
        LayerConfig::Relu,
        LayerConfig::LeakyRelu { slope: 0.1 },
        LayerConfig::Abs,
    ] {
        check_pullback(FeatureShape::new(2, 4, 4), config);
    }
}

#[test]
fn pullback_max_pool_overlapping_and_padded() {
    check_pullback(FeatureShape::new(2, 7, 7), LayerConfig::max_pool(3, 1));
    check_pullback(
        FeatureShape::new(2, 7, 7),
        LayerConfig::MaxPool2d {
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
        },
    );
}

#[test]
fn pullback_avg_pools() {
    check_pullback(FeatureShape::new(2, 7, 7), LayerConfig::avg_pool(3, 2));
    check_pullback(
        FeatureShape::new(2, 6, 6),
        LayerConfig::AvgPool2d {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [1, 1],
        },
    );
    check_pullback(FeatureShape::new(3, 5, 4), LayerConfig::GlobalAvgPool);
}

#[test]
fn pullback_batch_norm_dropout_flatten() {
    check_pullback(
        FeatureShape::new(3, 4, 4),
        LayerConfig::BatchNorm {
            epsilon: 1e-3,
            momentum: 0.7,
        },
    );
    check_pullback(
        FeatureShape::flat(6),
        LayerConfig::BatchNorm {
            epsilon: 1e-3,
            momentum: 0.7,
        },
    );
    check_pullback(
        FeatureShape::flat(6),
        LayerConfig::Dropout { probability: 0.5 },
    );
    check_pullback(FeatureShape::new(3, 2, 2), LayerConfig::Flatten);
}

#[test]
fn pullback_residual_blocks() {
    let body = vec![
        LayerConfig::Conv2d {
            out_channels: 4,
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            dilation: [1, 1],
            bias: true,
        },
        LayerConfig::BatchNorm {
            epsilon: 1e-5,
            momentum: 0.7,
        },
        LayerConfig::Relu,
        LayerConfig::Conv2d {
            out_channels: 4,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            bias: true,
        },
    ];
    let skip = vec![
        LayerConfig::avg_pool(2, 2),
        LayerConfig::Conv2d {
            out_channels: 4,
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            bias: false,
        },
    ];
    check_pullback(
        FeatureShape::new(2, 6, 6),
        LayerConfig::Residual { body, skip },
    );
    let identity_body = vec![LayerConfig::conv2d(2, 1), LayerConfig::Abs];
    check_pullback(
        FeatureShape::new(2, 3, 3),
        LayerConfig::Residual {
            body: identity_body,
            skip: vec![],
        },
    );
}

#[test]
fn slopes_match_finite_difference_jacobian() {
    let device = f64_device();
    let layers = vec![
        LayerConfig::Conv2d {
            out_channels: 4,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            bias: true,
        },
        LayerConfig::BatchNorm {
            epsilon: 1e-5,
            momentum: 0.7,
        },
        LayerConfig::LeakyRelu { slope: 0.2 },
        LayerConfig::max_pool(3, 2),
        LayerConfig::Residual {
            body: vec![LayerConfig::conv2d(4, 1), LayerConfig::Abs],
            skip: vec![],
        },
        LayerConfig::GlobalAvgPool,
        LayerConfig::linear(3),
    ];
    let network = build(
        &NetworkConfig::new(FeatureShape::new(2, 6, 6), layers),
        &device,
    );
    let x = random_input(&network, 2, &device);
    let map = affine_map(&network, x.clone(), AffineOptions::default()).unwrap();
    let slopes = map.slopes.into_data().try_to_vec::<f64>().unwrap();

    let features = network.input_shape().numel();
    let eye = Tensor::<2>::eye(features, &device);
    for i in 0..features {
        let e = eye.clone().narrow(0, i, 1);
        let plus =
            network.forward_reference(x.clone() + e.clone().mul_scalar(STEP), network.depth());
        let minus = network.forward_reference(x.clone() - e.mul_scalar(STEP), network.depth());
        let column = (plus - minus)
            .div_scalar(2.0 * STEP)
            .into_data()
            .try_to_vec::<f64>()
            .unwrap();
        for n in 0..2 {
            for c in 0..3 {
                let expected = column[n * 3 + c];
                let found = slopes[(n * 3 + c) * features + i];
                assert!(
                    (expected - found).abs() < 1e-6 * expected.abs().max(1.0),
                    "example {n}, class {c}, input {i}: finite difference {expected}, A[x] {found}"
                );
            }
        }
    }
}
