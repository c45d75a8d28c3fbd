//! The orthogonal-template penalty: a hand-computed value, gradients against finite
//! differences, and the estimators' means.

mod common;

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use common::{build, f64_device, random_input};
use maso::layer::Layer;
use maso::penalty::{PenaltyEstimator, last_layer_penalty, template_penalty};
use maso::{FeatureShape, LayerConfig, Mode, Network, NetworkConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn penalty_value(network: &Network, x: Tensor<2>, estimator: PenaltyEstimator, seed: u64) -> f64 {
    penalty_value_in(network, x, estimator, seed, Mode::Eval)
}

fn penalty_value_in(
    network: &Network,
    x: Tensor<2>,
    estimator: PenaltyEstimator,
    seed: u64,
    mode: Mode,
) -> f64 {
    let [batch, _] = x.dims();
    let (_, pieces) = network.forward_pieces(x, mode, network.depth());
    let mut rng = StdRng::seed_from_u64(seed);
    template_penalty(network, &pieces, batch, estimator, &mut rng).into_scalar::<f64>()
}

/// A linear model `y = W x` whose templates are the rows of `W = [[1, 2], [3, 4]]`:
/// `<A_0, A_1> = 1*3 + 2*4 = 11`, so `P = (11^2 + 11^2) / 2^2 = 60.5` for every batch.
#[test]
fn penalty_of_linear_model_by_hand() {
    let device = Device::flex();
    let config = NetworkConfig::new(
        FeatureShape::flat(2),
        vec![LayerConfig::Linear {
            out_features: 2,
            bias: false,
        }],
    );
    let mut network = config.init(&device).unwrap();
    if let Layer::Linear(linear) = &mut network.layers[0] {
        linear.weight = Param::from_tensor(Tensor::from_data([[1.0, 2.0], [3.0, 4.0]], &device));
    }
    let x = Tensor::<2>::from_data([[0.3, -1.0], [2.0, 5.0], [0.0, 0.0]], &device);
    let exact = penalty_value(&network, x.clone(), PenaltyEstimator::Exact, 0);
    assert_eq!(exact, 60.5);
    let last_layer = last_layer_penalty(&network).unwrap().into_scalar::<f64>();
    assert_eq!(last_layer, 60.5);
    // With two classes the only pairs are (0, 1) and (1, 0), so the pair estimator is exact.
    let pairs = penalty_value(&network, x, PenaltyEstimator::Pairs { pairs: 1 }, 3);
    assert_eq!(pairs, 60.5);
}

/// Gradient of the exact penalty with respect to every weight against central differences
/// of the penalty's value, in f64.
fn check_penalty_gradient(config: NetworkConfig) {
    check_penalty_gradient_in(config, Mode::Eval);
}

/// As [`check_penalty_gradient`], with the pieces of `mode`: in training, batch norm's scale
/// comes from the batch statistics, which depend on the weights below it.
fn check_penalty_gradient_in(config: NetworkConfig, mode: Mode) {
    let device = f64_device().autodiff();
    let trainable = build(&config, &device);
    let network = trainable.valid();
    let x = random_input(&network, 3, &device);
    let (_, pieces) = trainable.forward_pieces(x.clone(), mode, trainable.depth());
    let mut rng = StdRng::seed_from_u64(0);
    let penalty = template_penalty(&trainable, &pieces, 3, PenaltyEstimator::Exact, &mut rng);
    let grads = GradientsParams::from_grads(penalty.backward(), &trainable);
    let x = x.to_device(&f64_device());

    let mut checked = 0;
    for path in weight_paths(&trainable.layers, &[]) {
        let index = &path;
        let gradient = match layer_at(&trainable.layers, &path) {
            Layer::Linear(linear) => grads.get::<2>(linear.weight.id),
            Layer::Conv2d(conv) => grads.get::<4>(conv.weight.id).map(|g| g.flatten::<2>(1, 3)),
            _ => continue,
        };
        let gradient = gradient.expect("every weight gets a gradient");
        let [rows, columns] = gradient.dims();
        let gradient = gradient.into_data().try_to_vec::<f64>().unwrap();
        for entry in [0, rows * columns / 2, rows * columns - 1] {
            let numeric = finite_difference(&network, &x, index, entry, mode);
            let error = (numeric - gradient[entry]).abs() / numeric.abs().max(1e-3);
            assert!(
                error < 1e-5,
                "layer {index:?} entry {entry}: finite difference {numeric}, autodiff {}",
                gradient[entry]
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "checked only {checked} weights");
}

/// Paths to every fully connected and convolution layer, through residual blocks: each step
/// is `(index, branch)` with branch 0 for a top-level list, 1 for a body and 2 for a skip.
fn weight_paths(layers: &[Layer], prefix: &[(usize, u8)]) -> Vec<Vec<(usize, u8)>> {
    let mut paths = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        let mut path = prefix.to_vec();
        match layer {
            Layer::Linear(_) | Layer::Conv2d(_) => {
                path.push((index, 0));
                paths.push(path);
            }
            Layer::Residual(block) => {
                paths.extend(weight_paths(&block.body, &[prefix, &[(index, 1)]].concat()));
                paths.extend(weight_paths(&block.skip, &[prefix, &[(index, 2)]].concat()));
            }
            _ => {}
        }
    }
    paths
}

fn layer_at<'a>(layers: &'a [Layer], path: &[(usize, u8)]) -> &'a Layer {
    let (index, branch) = path[0];
    match (&layers[index], branch) {
        (layer, 0) => layer,
        (Layer::Residual(block), 1) => layer_at(&block.body, &path[1..]),
        (Layer::Residual(block), 2) => layer_at(&block.skip, &path[1..]),
        _ => unreachable!("paths come from weight_paths"),
    }
}

fn layer_at_mut<'a>(layers: &'a mut [Layer], path: &[(usize, u8)]) -> &'a mut Layer {
    let (index, branch) = path[0];
    match (&mut layers[index], branch) {
        (layer, 0) => layer,
        (Layer::Residual(block), 1) => layer_at_mut(&mut block.body, &path[1..]),
        (Layer::Residual(block), 2) => layer_at_mut(&mut block.skip, &path[1..]),
        _ => unreachable!("paths come from weight_paths"),
    }
}

fn finite_difference(
    network: &Network,
    x: &Tensor<2>,
    layer: &[(usize, u8)],
    entry: usize,
    mode: Mode,
) -> f64 {
    const STEP: f64 = 1e-6;
    let value_at = |delta: f64| {
        let mut shifted = network.clone();
        match layer_at_mut(&mut shifted.layers, layer) {
            Layer::Linear(linear) => {
                let w = linear.weight.val();
                let dims = w.dims();
                let mut values = w.into_data().try_to_vec::<f64>().unwrap();
                values[entry] += delta;
                linear.weight = Param::from_tensor(
                    Tensor::<1>::from_data(values.as_slice(), &x.device()).reshape(dims),
                );
            }
            Layer::Conv2d(conv) => {
                let w = conv.weight.val();
                let dims = w.dims();
                let mut values = w.into_data().try_to_vec::<f64>().unwrap();
                values[entry] += delta;
                conv.weight = Param::from_tensor(
                    Tensor::<1>::from_data(values.as_slice(), &x.device()).reshape(dims),
                );
            }
            _ => unreachable!("only weights of linear and conv layers are perturbed"),
        }
        penalty_value_in(&shifted, x.clone(), PenaltyEstimator::Exact, 0, mode)
    };
    (value_at(STEP) - value_at(-STEP)) / (2.0 * STEP)
}

#[test]
fn penalty_gradient_mlp() {
    let layers = vec![
        LayerConfig::Flatten,
        LayerConfig::linear(6),
        LayerConfig::LeakyRelu { slope: 0.1 },
        LayerConfig::linear(5),
        LayerConfig::Abs,
        LayerConfig::linear(4),
    ];
    check_penalty_gradient(NetworkConfig::new(FeatureShape::new(1, 3, 3), layers));
}

#[test]
fn penalty_gradient_cnn_overlapping_max_pool() {
    let layers = vec![
        LayerConfig::Conv2d {
            out_channels: 3,
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
        LayerConfig::Relu,
        LayerConfig::max_pool(3, 2),
        LayerConfig::Flatten,
        LayerConfig::linear(3),
    ];
    check_penalty_gradient(NetworkConfig::new(FeatureShape::new(2, 6, 6), layers));
}

#[test]
fn penalty_gradient_residual_block() {
    let body = vec![
        LayerConfig::Conv2d {
            out_channels: 3,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            bias: true,
        },
        LayerConfig::Relu,
        LayerConfig::Conv2d {
            out_channels: 3,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            bias: true,
        },
    ];
    let skip = vec![LayerConfig::Conv2d {
        out_channels: 3,
        kernel: [1, 1],
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        bias: false,
    }];
    let layers = vec![
        LayerConfig::Residual { body, skip },
        LayerConfig::GlobalAvgPool,
        LayerConfig::linear(4),
    ];
    check_penalty_gradient(NetworkConfig::new(FeatureShape::new(2, 4, 4), layers));
}

#[test]
fn penalty_gradient_batch_statistics() {
    let layers = vec![
        LayerConfig::Conv2d {
            out_channels: 3,
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
        LayerConfig::Abs,
        LayerConfig::max_pool(2, 2),
        LayerConfig::Flatten,
        LayerConfig::linear(5),
        LayerConfig::BatchNorm {
            epsilon: 1e-5,
            momentum: 0.7,
        },
        LayerConfig::Relu,
        LayerConfig::linear(3),
    ];
    check_penalty_gradient_in(
        NetworkConfig::new(FeatureShape::new(2, 4, 4), layers),
        Mode::Train,
    );
}

/// Both estimators average to the exact penalty over many draws.
#[test]
fn estimators_are_unbiased() {
    let device = f64_device();
    let layers = vec![
        LayerConfig::Flatten,
        LayerConfig::linear(8),
        LayerConfig::Relu,
        LayerConfig::linear(5),
    ];
    let network = build(
        &NetworkConfig::new(FeatureShape::new(1, 3, 3), layers),
        &device,
    );
    let x = random_input(&network, 4, &device);
    let exact = penalty_value(&network, x.clone(), PenaltyEstimator::Exact, 0);
    for estimator in [
        PenaltyEstimator::Pairs { pairs: 4 },
        PenaltyEstimator::Rademacher { probes: 4 },
    ] {
        let draws = 2000;
        let mean = (0..draws)
            .map(|seed| penalty_value(&network, x.clone(), estimator, seed))
            .sum::<f64>()
            / draws as f64;
        let error = (mean - exact).abs() / exact;
        assert!(
            error < 0.05,
            "{estimator:?}: mean {mean} over {draws} draws, exact {exact}"
        );
    }
}
