//! Exact k-nearest-neighbour search against brute force on random codes.

use maso::codes::{CodeKind, CodeLayer, CodeLayout, layer_distance};
use maso::search::{Metric, nearest};
use proptest::prelude::*;

fn layout() -> CodeLayout {
    CodeLayout {
        layers: vec![
            CodeLayer {
                name: "1".into(),
                kind: CodeKind::Sign,
                units: 70,
                bits: 1,
                word_offset: 0,
                words: 2,
            },
            CodeLayer {
                name: "2".into(),
                kind: CodeKind::Argmax { window_size: 4 },
                units: 9,
                bits: 2,
                word_offset: 2,
                words: 1,
            },
        ],
        words_per_example: 3,
    }
}

/// Random codes with few distinct values, so that ties are common.
fn codes(count: usize) -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(
        prop_oneof![Just(0u64), Just(u64::MAX), Just(0b1011), any::<u64>()],
        count * 3,
    )
    .prop_map(|mut words| {
        for code in words.chunks_mut(3) {
            code[1] &= (1 << 6) - 1; // 70 units: 6 bits in the second word
            code[2] &= (1 << 18) - 1; // 9 two-bit units
        }
        words
    })
}

fn brute_force(
    layout: &CodeLayout,
    metric: &Metric,
    database: &[u64],
    query: &[u64],
    k: usize,
) -> Vec<(usize, f64)> {
    let mut all: Vec<(usize, f64)> = database
        .chunks_exact(3)
        .enumerate()
        .map(|(index, code)| {
            let distance = match metric {
                Metric::Layer(l) => layer_distance(&layout.layers[*l], query, code),
                Metric::Combined(weights) => weights
                    .iter()
                    .map(|&(l, w)| w * layer_distance(&layout.layers[l], query, code))
                    .sum(),
            };
            (index, distance)
        })
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

proptest! {
    #[test]
    fn search_matches_brute_force(
        database in codes(25),
        queries in codes(19),
        k in 0usize..40,
        threads in 1usize..4,
        metric in prop_oneof![Just(Metric::Layer(0)), Just(Metric::Layer(1)), Just(Metric::Combined(vec![(0, 0.5), (1, 2.0)]))],
    ) {
        let layout = layout();
        let found = nearest(&layout, &metric, &database, &queries, k, threads).unwrap();
        prop_assert_eq!(found.len(), 19);
        for (q, neighbors) in found.iter().enumerate() {
            let expected = brute_force(&layout, &metric, &database, &queries[q * 3..(q + 1) * 3], k);
            let found: Vec<(usize, f64)> = neighbors.iter().map(|n| (n.index, n.distance)).collect();
            prop_assert_eq!(found, expected, "query {}", q);
        }
    }
}

#[test]
fn k_larger_than_database_returns_all() {
    let layout = layout();
    let database = [0, 0, 0, 1, 0, 0];
    let found = nearest(&layout, &Metric::Layer(0), &database, &[1, 0, 0], 10, 1).unwrap();
    assert_eq!(found[0].len(), 2);
    assert_eq!(found[0][0].index, 1);
    assert_eq!(found[0][0].distance, 0.0);
    assert_eq!(found[0][1].distance, 1.0 / 70.0);
}

#[test]
fn ragged_code_array_is_rejected() {
    let error = nearest(
        &layout(),
        &Metric::Layer(0),
        &[0, 0, 0, 0],
        &[0, 0, 0],
        1,
        1,
    )
    .unwrap_err();
    assert!(error.to_string().contains("4 words"), "{error}");
}

#[test]
fn unknown_layer_is_rejected() {
    let error = nearest(&layout(), &Metric::Layer(5), &[0, 0, 0], &[0, 0, 0], 1, 1).unwrap_err();
    assert!(error.to_string().contains("code layer index"), "{error}");
}
