//! `A[x] x + b[x]` equals the forward pass on random networks of every layer mix, in f64.

mod common;

use common::{architecture, build, f64_device, max_relative_error, random_input};
use maso::{AffineOptions, affine_map};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn affine_map_matches_forward_f64(arch in architecture(), batch in 1usize..4) {
        let device = f64_device();
        let network = build(&arch.config(), &device);
        let x = random_input(&network, batch, &device);
        for depth in 1..=network.depth() {
            let options = AffineOptions { depth: Some(depth), ..AffineOptions::default() };
            let map = affine_map(&network, x.clone(), options).unwrap();
            prop_assert_eq!(map.slopes.dtype(), burn::tensor::DType::F64);
            let reference = network.forward_reference(x.clone(), depth);
            let error = max_relative_error(map.evaluate(x.clone()), reference);
            prop_assert!(error < 1e-10, "depth {depth}: relative error {error:e} for {:?}", arch.config());
        }
    }
}
