//! A two-input ReLU network whose regions and affine pieces are worked out by hand.
//!
//! Layer 1 is `z = W1 x + b1` with `W1 = [[1, -1], [1, 1]]`, `b1 = [0, -1]`, then ReLU.
//! Layer 2 is `y = W2 h + b2` with `W2 = [[1, 2], [-1, 1]]`, `b2 = [0.5, 0]`.
//!
//! In the region where unit `k` is active (`z_k > 0`) the ReLU keeps it, so
//! `A[x] = W2 D W1` and `b[x] = W2 D b1 + b2` with `D = diag(active)`:
//!
//! | x | z | active | A[x] | b[x] |
//! |---|---|---|---|---|
//! | (2, 0.5) | (1.5, 1.5) | both | [[3, 1], [0, 2]] | [-1.5, -1] |
//! | (0.5, 2) | (-1.5, 1.5) | unit 2 | [[2, 2], [1, 1]] | [-1.5, -1] |
//! | (2, -0.5) | (2.5, 0.5) | both | [[3, 1], [0, 2]] | [-1.5, -1] |
//! | (-1, 0.5) | (-1.5, -1.5) | none | 0 | [0.5, 0] |
//! | (1, -1.5) | (2.5, -1.5) | unit 1 | [[1, -1], [-1, 1]] | [0.5, 0] |

use burn::module::Param;
use burn::tensor::{Device, FloatDType, Tensor};
use maso::{AffineOptions, FeatureShape, Layer, LayerConfig, NetworkConfig, affine_map};

fn network(device: &Device) -> maso::Network {
    let config = NetworkConfig::new(
        FeatureShape::flat(2),
        vec![
            LayerConfig::linear(2),
            LayerConfig::Relu,
            LayerConfig::linear(2),
        ],
    );
    let mut network = config.init(device).unwrap();
    let weights = [
        ([[1.0, -1.0], [1.0, 1.0]], [0.0, -1.0]),
        ([[1.0, 2.0], [-1.0, 1.0]], [0.5, 0.0]),
    ];
    let mut next = weights.into_iter();
    for layer in &mut network.layers {
        if let Layer::Linear(linear) = layer {
            let (weight, bias) = next.next().unwrap();
            linear.weight = Param::from_tensor(Tensor::from_data(weight, device));
            linear.bias = Some(Param::from_tensor(Tensor::from_data(bias, device)));
        }
    }
    network
}

#[test]
fn relu_network_regions_by_hand() {
    let device = Device::flex();
    let network = network(&device);
    let cases: [([f32; 2], [[f32; 2]; 2], [f32; 2]); 5] = [
        ([2.0, 0.5], [[3.0, 1.0], [0.0, 2.0]], [-1.5, -1.0]),
        ([0.5, 2.0], [[2.0, 2.0], [1.0, 1.0]], [-1.5, -1.0]),
        ([2.0, -0.5], [[3.0, 1.0], [0.0, 2.0]], [-1.5, -1.0]),
        ([-1.0, 0.5], [[0.0, 0.0], [0.0, 0.0]], [0.5, 0.0]),
        ([1.0, -1.5], [[1.0, -1.0], [-1.0, 1.0]], [0.5, 0.0]),
    ];
    for (x, slopes, offsets) in cases {
        let input = Tensor::<2>::from_data([x], &device);
        let map = affine_map(&network, input, AffineOptions::default()).unwrap();
        let found_slopes = map.slopes.into_data().try_to_vec::<f32>().unwrap();
        let found_offsets = map.offsets.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(found_slopes, slopes.concat(), "A[x] at {x:?}");
        assert_eq!(found_offsets, offsets, "b[x] at {x:?}");
    }
}

#[test]
fn hidden_layer_map_by_hand() {
    let device = Device::flex();
    let network = network(&device);
    let input = Tensor::<2>::from_data([[0.5, 2.0]], &device);
    let options = AffineOptions {
        depth: Some(2),
        ..AffineOptions::default()
    };
    let map = affine_map(&network, input, options).unwrap();
    assert_eq!(
        map.slopes.into_data().try_to_vec::<f32>().unwrap(),
        [0.0, 0.0, 1.0, 1.0]
    );
    assert_eq!(
        map.offsets.into_data().try_to_vec::<f32>().unwrap(),
        [0.0, -1.0]
    );
}

#[test]
fn default_dtype_is_f32() {
    let device = Device::flex();
    let network = network(&device);
    assert_eq!(network.layers.len(), 3);
    let x = Tensor::<2>::from_data([[1.0, 1.0]], &device);
    assert_eq!(x.dtype(), FloatDType::F32.into());
}

#[test]
fn tiny_memory_budget_splits_outputs() {
    let device = Device::flex();
    let network = network(&device);
    let x = Tensor::<2>::from_data([[2.0, 0.5], [0.5, 2.0], [-1.0, 0.5]], &device);
    let whole = affine_map(&network, x.clone(), AffineOptions::default()).unwrap();
    // One byte forces one cotangent row per pass: one output of one example at a time.
    let options = AffineOptions {
        depth: None,
        max_chunk_bytes: 1,
    };
    let split = affine_map(&network, x, options).unwrap();
    assert_eq!(
        split.slopes.into_data().try_to_vec::<f32>().unwrap(),
        whole.slopes.into_data().try_to_vec::<f32>().unwrap()
    );
    assert_eq!(
        split.offsets.into_data().try_to_vec::<f32>().unwrap(),
        whole.offsets.into_data().try_to_vec::<f32>().unwrap()
    );
}
