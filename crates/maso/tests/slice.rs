//! Exact slice partitions: hand-computed regions, agreement with the forward pass on a fine
//! grid, conserved area, degenerate cuts built on purpose, and random networks of every layer
//! mix with the invariants checked after each layer.

mod common;

use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use common::{architecture, build, f64_device};
use maso::layer::Layer;
use maso::slice::{Partition, SlicePlane, Slicer, codes_from_pieces, local_complexity};
use maso::{FeatureShape, LayerConfig, Mode, Network, NetworkConfig};
use proptest::prelude::*;

/// Builds a network of `layers` on 2-D inputs and sets its fully connected layers, in order,
/// to the given `(weight, bias)` pairs.
fn network_with_weights(
    layers: Vec<LayerConfig>,
    weights: &[(Vec<Vec<f64>>, Vec<f64>)],
) -> Network {
    let device = f64_device();
    let mut network = NetworkConfig::new(FeatureShape::flat(2), layers)
        .init(&device)
        .unwrap();
    let mut next = weights.iter();
    for layer in &mut network.layers {
        if let Layer::Linear(linear) = layer {
            let (weight, bias) = next.next().expect("one weight pair per linear layer");
            let rows = weight.len();
            let columns = weight[0].len();
            let flat: Vec<f64> = weight.iter().flatten().copied().collect();
            linear.weight = Param::from_tensor(Tensor::from_data(
                TensorData::new(flat, [rows, columns]),
                &device,
            ));
            linear.bias = Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(bias.clone(), [rows]),
                &device,
            )));
        }
    }
    network
}

fn unit_square() -> SlicePlane {
    SlicePlane::input_plane([-1.0, -1.0], [1.0, 1.0]).unwrap()
}

/// Runs the slicer to the end, checking the invariants after every layer.
fn slice_checked(network: &Network, plane: SlicePlane) -> Partition {
    let mut slicer = Slicer::new(network, plane).unwrap();
    slicer.partition().check_invariants(network).unwrap();
    for _ in 0..network.depth() {
        slicer.step().unwrap();
        slicer.partition().check_invariants(network).unwrap();
    }
    slicer.into_partition()
}

/// Forward-pass codes and outputs of the inputs at slice coordinates `points`.
fn forward_at(
    network: &Network,
    plane: &SlicePlane,
    points: &[[f64; 2]],
) -> (Vec<Vec<maso::slice::LayerCode>>, Vec<f64>) {
    let dimension = plane.dimension();
    let values: Vec<f64> = points.iter().flat_map(|&u| plane.point(u)).collect();
    let x = Tensor::<2>::from_data(
        TensorData::new(values, [points.len(), dimension]),
        &network.device(),
    );
    let (output, pieces) = network.forward_pieces(x, Mode::Eval, network.depth());
    let codes = codes_from_pieces(&pieces, points.len()).unwrap();
    let output = output
        .into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .unwrap();
    (codes, output)
}

#[test]
fn relu_on_axes_gives_quadrants() {
    let network = network_with_weights(
        vec![
            LayerConfig::linear(2),
            LayerConfig::Relu,
            LayerConfig::linear(1),
        ],
        &[
            (vec![vec![1.0, 0.0], vec![0.0, 1.0]], vec![0.0, 0.0]),
            (vec![vec![1.0, 2.0]], vec![0.5]),
        ],
    );
    let partition = slice_checked(&network, unit_square());
    assert_eq!(partition.len(), 4);
    for region in &partition.regions {
        assert!((region.polygon.area() - 1.0).abs() < 1e-15);
        let [cx, cy] = region.polygon.centroid();
        let code = &region.codes[1];
        assert_eq!(code.sign(0), cx > 0.0, "unit 1 at {:?}", [cx, cy]);
        assert_eq!(code.sign(1), cy > 0.0, "unit 2 at {:?}", [cx, cy]);
        // y = relu(u1) + 2 relu(u2) + 0.5 on each quadrant.
        let expected_slope = [
            if cx > 0.0 { 1.0 } else { 0.0 },
            if cy > 0.0 { 2.0 } else { 0.0 },
        ];
        let at_origin = region.map.evaluate([0.0, 0.0])[0];
        let slope_1 = region.map.evaluate([1.0, 0.0])[0] - at_origin;
        let slope_2 = region.map.evaluate([0.0, 1.0])[0] - at_origin;
        assert!((at_origin - 0.5).abs() < 1e-15);
        assert!((slope_1 - expected_slope[0]).abs() < 1e-15);
        assert!((slope_2 - expected_slope[1]).abs() < 1e-15);
    }
}

#[test]
fn hand_network_has_known_regions() {
    // z1 = u1 - u2 and z2 = u1 + u2 - 1 cut the square [-1, 1]^2 into four regions. The line
    // u1 + u2 = 1 cuts off the triangle (0, 1), (1, 0), (1, 1) of area 1/2, and the diagonal
    // u1 = u2 halves the square and that triangle.
    let network = network_with_weights(
        vec![
            LayerConfig::linear(2),
            LayerConfig::Relu,
            LayerConfig::linear(2),
        ],
        &[
            (vec![vec![1.0, -1.0], vec![1.0, 1.0]], vec![0.0, -1.0]),
            (vec![vec![1.0, 2.0], vec![-1.0, 1.0]], vec![0.5, 0.0]),
        ],
    );
    let partition = slice_checked(&network, unit_square());
    let mut areas: Vec<(bool, bool, f64)> = partition
        .regions
        .iter()
        .map(|region| {
            let code = &region.codes[1];
            (code.sign(0), code.sign(1), region.polygon.area())
        })
        .collect();
    areas.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let expected = [
        (false, false, 2.0 - 0.25),
        (false, true, 0.25),
        (true, false, 2.0 - 0.25),
        (true, true, 0.25),
    ];
    assert_eq!(areas.len(), expected.len());
    for (found, expected) in areas.iter().zip(expected) {
        assert_eq!((found.0, found.1), (expected.0, expected.1));
        assert!(
            (found.2 - expected.2).abs() < 1e-14,
            "{found:?} != {expected:?}"
        );
    }
}

#[test]
fn fine_grid_agrees_with_regions() {
    let device = f64_device();
    let network = NetworkConfig::new(
        FeatureShape::flat(2),
        vec![
            LayerConfig::linear(12),
            LayerConfig::Relu,
            LayerConfig::linear(10),
            LayerConfig::LeakyRelu { slope: 0.1 },
            LayerConfig::linear(8),
            LayerConfig::Abs,
            LayerConfig::linear(3),
        ],
    )
    .init(&device)
    .unwrap();
    let plane = SlicePlane::input_plane([-2.0, -1.5], [2.0, 1.5]).unwrap();
    let partition = slice_checked(&network, plane.clone());
    assert!(partition.len() > 20, "only {} regions", partition.len());
    let side = 151;
    let mut points = Vec::with_capacity(side * side);
    for i in 0..side {
        for j in 0..side {
            let u1 = -2.0 + 4.0 * (i as f64 + 0.37) / side as f64;
            let u2 = -1.5 + 3.0 * (j as f64 + 0.61) / side as f64;
            points.push([u1, u2]);
        }
    }
    let (codes, output) = forward_at(&network, &plane, &points);
    let mut boundary_points = 0;
    for (index, &u) in points.iter().enumerate() {
        let containing: Vec<usize> = partition
            .regions
            .iter()
            .enumerate()
            .filter(|(_, region)| region.polygon.contains(u, 1e-12))
            .map(|(i, _)| i)
            .collect();
        assert!(!containing.is_empty(), "no region contains {u:?}");
        if containing.len() > 1 {
            boundary_points += 1;
            continue;
        }
        let region = &partition.regions[containing[0]];
        for (layer, (found, expected)) in codes[index].iter().zip(&region.codes).enumerate() {
            assert_eq!(found, expected.as_ref(), "layer {layer} code at {u:?}");
        }
        let mapped = region.map.evaluate(u);
        for (a, b) in mapped.iter().zip(&output[index * 3..index * 3 + 3]) {
            assert!(
                (a - b).abs() < 1e-10 * b.abs().max(1.0),
                "logit at {u:?}: {a} vs {b}"
            );
        }
    }
    assert!(boundary_points < points.len() / 100);
}

#[test]
fn degenerate_cuts_conserve_area() {
    // Unit 1: the diagonal u1 = u2 through two corners. Units 2 and 3: parallel lines
    // u1 = 0 and u1 = 0.5. Unit 4: 2 u1 = 0, coincident with unit 2. Unit 5: u1 = 5, outside
    // the slice. Unit 6: u2 = -1, along an edge of the slice.
    let weights = vec![
        vec![1.0, -1.0],
        vec![1.0, 0.0],
        vec![1.0, 0.0],
        vec![2.0, 0.0],
        vec![1.0, 0.0],
        vec![0.0, 1.0],
    ];
    let bias = vec![0.0, 0.0, -0.5, 0.0, -5.0, 1.0];
    let network = network_with_weights(
        vec![
            LayerConfig::linear(6),
            LayerConfig::Relu,
            LayerConfig::linear(2),
        ],
        &[
            (weights, bias),
            (
                vec![vec![1.0; 6], vec![-1.0, 2.0, 0.5, -0.5, 1.0, 3.0]],
                vec![0.0, 0.1],
            ),
        ],
    );
    let partition = slice_checked(&network, unit_square());
    // The diagonal splits each of the three strips between u1 = 0 and u1 = 0.5: 6 regions.
    assert_eq!(partition.len(), 6);
    assert!((partition.total_area() - 4.0).abs() < 1e-14);
    for region in &partition.regions {
        // The coincident units always agree, the outside unit is never active, and the edge
        // unit is always active.
        let code = &region.codes[1];
        assert_eq!(code.sign(1), code.sign(3));
        assert!(!code.sign(4));
        assert!(code.sign(5));
    }
}

#[test]
fn cut_through_shared_vertex_adds_no_sliver() {
    // Three lines through the origin: u1 = 0, u2 = 0 and u1 = u2 meet in one point.
    let network = network_with_weights(
        vec![
            LayerConfig::linear(3),
            LayerConfig::Abs,
            LayerConfig::linear(1),
        ],
        &[
            (
                vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, -1.0]],
                vec![0.0; 3],
            ),
            (vec![vec![1.0, 1.0, 1.0]], vec![0.0]),
        ],
    );
    let partition = slice_checked(&network, unit_square());
    assert_eq!(partition.len(), 6);
    for region in &partition.regions {
        assert!(region.polygon.area() >= 0.5 - 1e-14);
    }
}

#[test]
fn decision_boundary_follows_top_class_only() {
    // Logits (u1, -u1, -2): class 2 is never on top, so the boundary is the line u1 = 0
    // alone, although logit 0 - logit 2 and logit 1 - logit 2 vanish inside the slice.
    let network = network_with_weights(
        vec![
            LayerConfig::linear(2),
            LayerConfig::Relu,
            LayerConfig::linear(3),
        ],
        &[
            (vec![vec![1.0, 0.0], vec![-1.0, 0.0]], vec![0.0, 0.0]),
            (
                vec![vec![1.0, -1.0], vec![-1.0, 1.0], vec![0.0, 0.0]],
                vec![0.0, 0.0, -2.0],
            ),
        ],
    );
    let plane = SlicePlane::input_plane([-3.0, -1.0], [3.0, 1.0]).unwrap();
    let partition = slice_checked(&network, plane);
    let cells = partition.class_cells();
    let segments = partition.decision_boundary(&cells);
    assert!(!segments.is_empty());
    let length: f64 = segments
        .iter()
        .map(|s| (s.end[0] - s.start[0]).hypot(s.end[1] - s.start[1]))
        .sum();
    assert!((length - 2.0).abs() < 1e-12, "boundary length {length}");
    for segment in &segments {
        assert_eq!(segment.classes, [0, 1]);
        assert!(segment.start[0].abs() < 1e-12, "{segment:?}");
        assert!(segment.end[0].abs() < 1e-12, "{segment:?}");
    }
}

#[test]
fn decision_boundary_splits_inside_region() {
    // One affine region with logits (u1, u2, 0.5): three class cells meeting at (0.5, 0.5).
    let network = network_with_weights(
        vec![LayerConfig::linear(3)],
        &[(
            vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.0, 0.0]],
            vec![0.0, 0.0, 0.5],
        )],
    );
    let partition = slice_checked(&network, unit_square());
    assert_eq!(partition.len(), 1);
    let cells = partition.class_cells();
    let mut class_areas = [0.0; 3];
    for cell in &cells {
        let [u1, u2] = cell.polygon.centroid();
        let logits = [u1, u2, 0.5];
        let top = (0..3)
            .max_by(|&a, &b| logits[a].partial_cmp(&logits[b]).unwrap())
            .unwrap();
        assert_eq!(cell.class, top);
        class_areas[cell.class] += cell.polygon.area();
    }
    // Class 2 wins on [-1, 0.5]^2; classes 0 and 1 share the rest equally.
    let expected = [0.875, 0.875, 2.25];
    for (found, expected) in class_areas.iter().zip(expected) {
        assert!((found - expected).abs() < 1e-14, "{class_areas:?}");
    }
    let segments = partition.decision_boundary(&cells);
    let length: f64 = segments
        .iter()
        .map(|s| (s.end[0] - s.start[0]).hypot(s.end[1] - s.start[1]))
        .sum();
    let expected = 1.5 + 1.5 + 0.5f64.sqrt();
    assert!(
        (length - expected).abs() < 1e-12,
        "boundary length {length}"
    );
}

#[test]
fn overlapping_max_pool_splits_where_argmax_changes() {
    let device = f64_device();
    let network = NetworkConfig::new(
        FeatureShape::new(1, 5, 5),
        vec![
            LayerConfig::Conv2d {
                out_channels: 2,
                kernel: [2, 2],
                stride: [1, 1],
                padding: [0, 0],
                dilation: [1, 1],
                bias: true,
            },
            LayerConfig::MaxPool2d {
                kernel: [3, 3],
                stride: [1, 1],
                padding: [1, 1],
            },
            LayerConfig::Flatten,
            LayerConfig::linear(2),
        ],
    )
    .init(&device)
    .unwrap();
    let plane = random_plane(&network, 1);
    let partition = slice_checked(&network, plane);
    assert!(partition.len() > 1, "max-pool made no cut");
}

#[test]
fn conv_residual_batch_norm_network() {
    let device = f64_device();
    let conv = |channels| LayerConfig::Conv2d {
        out_channels: channels,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        dilation: [1, 1],
        bias: true,
    };
    let batch_norm = LayerConfig::BatchNorm {
        epsilon: 1e-5,
        momentum: 0.7,
    };
    let config = NetworkConfig::new(
        FeatureShape::new(1, 6, 6),
        vec![
            conv(2),
            batch_norm.clone(),
            LayerConfig::Relu,
            LayerConfig::Residual {
                body: vec![
                    conv(2),
                    batch_norm,
                    LayerConfig::LeakyRelu { slope: 0.2 },
                    conv(2),
                ],
                skip: vec![],
            },
            LayerConfig::avg_pool(2, 2),
            LayerConfig::MaxPool2d {
                kernel: [2, 2],
                stride: [1, 1],
                padding: [0, 0],
            },
            LayerConfig::Flatten,
            LayerConfig::linear(3),
        ],
    );
    let network = build(&config, &device);
    let partition = slice_checked(&network, random_plane(&network, 7));
    assert!(partition.len() > 1);
}

#[test]
fn disc_counts_regions_it_meets() {
    let network = network_with_weights(
        vec![
            LayerConfig::linear(2),
            LayerConfig::Relu,
            LayerConfig::linear(1),
        ],
        &[
            (vec![vec![1.0, 0.0], vec![0.0, 1.0]], vec![0.0, 0.0]),
            (vec![vec![1.0, 1.0]], vec![0.0]),
        ],
    );
    let partition = slice_checked(&network, unit_square());
    assert_eq!(partition.count_in_disc([0.5, 0.5], 0.25), 1);
    assert_eq!(partition.count_in_disc([0.5, 0.0], 0.25), 2);
    assert_eq!(partition.count_in_disc([0.0, 0.0], 0.1), 4);
    // The disc around (0.5, 0.5) of radius just below sqrt(0.5) misses the other quadrants'
    // interiors but touches the two axes.
    assert_eq!(partition.count_in_disc([0.5, 0.5], 0.49), 1);
    assert_eq!(partition.count_in_disc([0.5, 0.5], 0.5), 3);
}

#[test]
fn local_complexity_grows_with_radius() {
    let device = f64_device();
    let network = NetworkConfig::new(
        FeatureShape::flat(4),
        vec![
            LayerConfig::linear(16),
            LayerConfig::Relu,
            LayerConfig::linear(16),
            LayerConfig::Relu,
            LayerConfig::linear(2),
        ],
    )
    .init(&device)
    .unwrap();
    let points = Tensor::<2>::random(
        [6, 4],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let small = local_complexity(&network, points.clone(), 1e-9, 32, 1).unwrap();
    let large = local_complexity(&network, points, 2.0, 32, 1).unwrap();
    assert_eq!(small.layers.len(), network.depth());
    assert_eq!(small.layers[1].units, 16);
    assert_eq!(small.layers[1].mean_changed, 0.0);
    assert!(large.layers[1].mean_changed > 0.0);
    assert!(large.layers[3].mean_changed_anywhere >= large.layers[3].mean_changed);
    assert!(large.layers[1].standard_error > 0.0);
    assert_eq!(large.layers[0].units, 0);
}

#[test]
fn plane_through_three_points_contains_them() {
    let points = [
        vec![1.0, 0.0, 2.0, 0.0],
        vec![0.0, 1.0, 0.0, 3.0],
        vec![2.0, 2.0, 1.0, 1.0],
    ];
    let plane = SlicePlane::through([&points[0], &points[1], &points[2]], 0.25).unwrap();
    for point in &points {
        let u = plane.project(point).unwrap();
        let back = plane.point(u);
        for (a, b) in back.iter().zip(point) {
            assert!((a - b).abs() < 1e-12);
        }
        for axis in 0..2 {
            assert!(u[axis] > plane.extent_min[axis], "{u:?}");
            assert!(u[axis] < plane.extent_max[axis], "{u:?}");
        }
    }
    let collinear = SlicePlane::through([&points[0], &points[0], &points[1]], 0.25);
    assert!(collinear.is_err());
}

/// Returns the plane through three random inputs of `network`, drawn from `seed`.
fn random_plane(network: &Network, seed: u64) -> SlicePlane {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dimension = network.input_shape().numel();
    let points: Vec<Vec<f64>> = (0..3)
        .map(|_| {
            (0..dimension)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect()
        })
        .collect();
    SlicePlane::through([&points[0], &points[1], &points[2]], 0.25).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_networks_keep_invariants(arch in architecture(), seed in 0u64..1000) {
        let device = f64_device();
        let network = build(&arch.config(), &device);
        let plane = random_plane(&network, seed);
        let partition = slice_checked(&network, plane);
        prop_assert!(!partition.is_empty());
    }
}

#[test]
fn plane_dimension_must_match_network() {
    let device = f64_device();
    let network = NetworkConfig::new(FeatureShape::flat(3), vec![LayerConfig::linear(2)])
        .init(&device)
        .unwrap();
    let error = Slicer::new(&network, unit_square()).err().unwrap();
    assert!(error.to_string().contains("slice plane"), "{error}");
}
