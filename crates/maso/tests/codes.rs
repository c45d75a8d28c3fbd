//! Region codes: layouts, packing against hand-computed cases, and distances on hand-made codes.

use burn::module::Param;
use burn::tensor::{Device, Tensor};
use maso::codes::{
    CodeKind, CodeLayer, CodeLayout, differing_units, first_differing_layer, layer_distance,
    pack_codes,
};
use maso::{FeatureShape, Layer, LayerConfig, Mode, NetworkConfig};

#[test]
fn small_cnn_layout() {
    let network = maso::arch::Architecture::SmallCnn
        .config(FeatureShape::new(1, 28, 28), 10)
        .unwrap()
        .init(&Device::flex())
        .unwrap();
    let layout = CodeLayout::of(&network).unwrap();
    let names: Vec<&str> = layout.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["2", "3", "6", "7", "10", "11"]);
    let units: Vec<usize> = layout.layers.iter().map(|l| l.units).collect();
    assert_eq!(
        units,
        [
            32 * 26 * 26,
            32 * 13 * 13,
            64 * 11 * 11,
            64 * 5 * 5,
            128 * 5 * 5,
            128 * 2 * 2
        ]
    );
    let bits: Vec<usize> = layout.layers.iter().map(|l| l.bits).collect();
    assert_eq!(bits, [1, 2, 1, 2, 1, 2]);
    assert_eq!(
        layout.bits_per_example(),
        21632 + 2 * 5408 + 7744 + 2 * 1600 + 3200 + 2 * 512
    );
}

#[test]
fn residual_layers_are_named_by_path() {
    let body = vec![
        LayerConfig::conv2d(2, 1),
        LayerConfig::Relu,
        LayerConfig::conv2d(2, 1),
    ];
    let skip = vec![LayerConfig::conv2d(2, 1), LayerConfig::Abs];
    let config = NetworkConfig::new(
        FeatureShape::new(1, 3, 3),
        vec![
            LayerConfig::Residual { body, skip },
            LayerConfig::max_pool(3, 1),
            LayerConfig::Flatten,
        ],
    );
    let layout = CodeLayout::of(&config.init(&Device::flex()).unwrap()).unwrap();
    let names: Vec<&str> = layout.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["0.body.1", "0.skip.1", "1"]);
    // A 3x3 window has 9 positions: 4 bits per code.
    assert_eq!(layout.layers[2].bits, 4);
    assert_eq!(layout.layers[2].kind, CodeKind::Argmax { window_size: 9 });
}

/// ReLU on a 3x3 plane, then overlapping 2x2 max-pooling with stride 1.
#[test]
fn packed_codes_match_hand_computed() {
    let device = Device::flex();
    let config = NetworkConfig::new(
        FeatureShape::new(1, 3, 3),
        vec![LayerConfig::Relu, LayerConfig::max_pool(2, 1)],
    );
    let network = config.init(&device).unwrap();
    // Plane (row-major):
    //  1 -2  3
    // -4  5 -6
    //  7 -8  9
    let x = Tensor::<2>::from_data([[1.0, -2.0, 3.0, -4.0, 5.0, -6.0, 7.0, -8.0, 9.0]], &device);
    let (_, pieces) = network.forward_pieces(x, Mode::Eval, network.depth());
    let layout = CodeLayout::of(&network).unwrap();
    let codes = pack_codes(&network, &layout, &pieces, 1);
    assert_eq!(codes.len(), layout.words_per_example);

    // ReLU bits: positive entries at 0, 2, 4, 6, 8.
    let relu = &layout.layers[0];
    assert_eq!(codes[relu.word_offset], 0b1_0101_0101);

    // After ReLU the plane is [1 0 3; 0 5 0; 7 0 9]. The four 2x2 windows and their argmax
    // (row-major position in the window): top-left max 5 at (1,1) -> 3; top-right 5 at (1,0)
    // -> 2; bottom-left 7 at (1,0) -> 2; bottom-right 9 at (1,1) -> 3. Two bits each.
    let pool = &layout.layers[1];
    assert_eq!(pool.bits, 2);
    assert_eq!(codes[pool.word_offset], 3 | (2 << 2) | (2 << 4) | (3 << 6));
}

#[test]
fn differing_units_counts_codes_not_bits() {
    assert_eq!(differing_units(1, &[0b1011, 1], &[0b0001, 0]), 3);

    // Two-bit codes: unit 0 differs in both bits (counts once), unit 1 in one bit.
    assert_eq!(differing_units(2, &[0b00_11], &[0b01_00]), 2);

    // Four-bit codes 1, 0 and 8 against all zeros: units 0 and 2 differ.
    assert_eq!(differing_units(4, &[0x801], &[0]), 2);

    // Eight-bit codes: unit 1 differs only in its top bit.
    assert_eq!(differing_units(8, &[0x8000], &[0x0000]), 1);
}

#[test]
fn distances_and_hierarchy() {
    let layout = CodeLayout {
        layers: vec![
            CodeLayer {
                name: "1".into(),
                kind: CodeKind::Sign,
                units: 4,
                bits: 1,
                word_offset: 0,
                words: 1,
            },
            CodeLayer {
                name: "3".into(),
                kind: CodeKind::Argmax { window_size: 4 },
                units: 2,
                bits: 2,
                word_offset: 1,
                words: 1,
            },
        ],
        words_per_example: 2,
    };
    let a = [0b1010, 0b11_01];
    let b = [0b1010, 0b10_01];
    let c = [0b0110, 0b11_01];
    assert_eq!(layer_distance(&layout.layers[0], &a, &b), 0.0);
    assert_eq!(layer_distance(&layout.layers[1], &a, &b), 0.5);
    assert_eq!(layer_distance(&layout.layers[0], &a, &c), 0.5);
    assert_eq!(first_differing_layer(&layout, &a, &b), Some(1));
    assert_eq!(first_differing_layer(&layout, &a, &c), Some(0));
    assert_eq!(first_differing_layer(&layout, &a, &a), None);
}

#[test]
fn leaky_and_abs_codes_mark_positive_inputs() {
    let device = Device::flex();
    for activation in [LayerConfig::LeakyRelu { slope: 0.1 }, LayerConfig::Abs] {
        let config = NetworkConfig::new(
            FeatureShape::flat(3),
            vec![
                LayerConfig::Linear {
                    out_features: 3,
                    bias: false,
                },
                activation.clone(),
            ],
        );
        let mut network = config.init(&device).unwrap();
        if let Layer::Linear(linear) = &mut network.layers[0] {
            linear.weight = Param::from_tensor(Tensor::from_data(
                [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                &device,
            ));
        }
        let x = Tensor::<2>::from_data([[-1.0, 2.0, 0.5]], &device);
        let (_, pieces) = network.forward_pieces(x, Mode::Eval, network.depth());
        let layout = CodeLayout::of(&network).unwrap();
        let codes = pack_codes(&network, &layout, &pieces, 1);
        assert_eq!(codes, [0b110], "{activation:?}");
    }
}
