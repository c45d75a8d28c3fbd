//! Exact k-nearest-neighbour search over stored region codes.

use crate::codes::{CodeKind, CodeLayer, CodeLayout, differing_units};
use crate::{MasoError, Result};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The distance that a search ranks by.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// The normalized Hamming distance of one code layer (by index in the layout).
    Layer(usize),
    /// A weighted sum of per-layer distances: `(layer index, weight)` pairs.
    Combined(Vec<(usize, f64)>),
}

/// One neighbour: its index in the database and its distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    pub index: usize,
    pub distance: f64,
}

/// Heap entry ordered by distance, then index, so that ties keep the lower index.
#[derive(PartialEq)]
struct Entry(f64, usize);

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Number of differing bits between two word slices, with the CPU's popcount instruction
/// where it exists.
fn hamming(a: &[u64], b: &[u64]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports `popcnt`, checked just above.
            return unsafe { hamming_popcnt(a, b) };
        }
    }
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn hamming_popcnt(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

fn layer_differences(layer: &CodeLayer, a: &[u64], b: &[u64]) -> u32 {
    let range = layer.word_offset..layer.word_offset + layer.words;
    match (layer.kind, layer.bits) {
        (CodeKind::Sign, 1) => hamming(&a[range.clone()], &b[range]),
        _ => differing_units(layer, &a[range.clone()], &b[range]),
    }
}

fn distance(layout: &CodeLayout, metric: &Metric, a: &[u64], b: &[u64]) -> f64 {
    match metric {
        Metric::Layer(index) => {
            let layer = &layout.layers[*index];
            layer_differences(layer, a, b) as f64 / layer.units.max(1) as f64
        }
        Metric::Combined(weights) => weights
            .iter()
            .map(|&(index, weight)| {
                let layer = &layout.layers[index];
                weight * layer_differences(layer, a, b) as f64 / layer.units.max(1) as f64
            })
            .sum(),
    }
}

fn check(layout: &CodeLayout, metric: &Metric, database: &[u64], queries: &[u64]) -> Result<()> {
    let words = layout.words_per_example;
    for (what, codes) in [("database", database), ("queries", queries)] {
        if words == 0 || codes.len() % words != 0 {
            return Err(MasoError::shape(
                &format!("code search {what}"),
                format!("a multiple of {words} words (one example's code)"),
                format!("{} words", codes.len()),
            ));
        }
    }
    let layers: Vec<usize> = match metric {
        Metric::Layer(index) => vec![*index],
        Metric::Combined(weights) => weights.iter().map(|&(index, _)| index).collect(),
    };
    if let Some(bad) = layers.iter().find(|&&index| index >= layout.layers.len()) {
        return Err(MasoError::config(
            "code layer index",
            bad,
            format!("the layout has {} code layers", layout.layers.len()),
        ));
    }
    Ok(())
}

/// Finds the `k` nearest database codes of every query code, exactly, on `threads` threads
/// (0: all available cores).
///
/// `database` and `queries` are concatenated codes of `layout.words_per_example` words each.
/// Neighbours come sorted by distance, ties by database index; a query gets
/// `min(k, database size)` of them.
///
/// # Errors
///
/// When a code array is not a whole number of codes or the metric names a layer that the
/// layout lacks.
pub fn nearest(
    layout: &CodeLayout,
    metric: &Metric,
    database: &[u64],
    queries: &[u64],
    k: usize,
    threads: usize,
) -> Result<Vec<Vec<Neighbor>>> {
    check(layout, metric, database, queries)?;
    let words = layout.words_per_example;
    let query_count = queries.len() / words;
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let per_thread = query_count.div_ceil(threads.max(1)).max(1);
    let mut results = vec![Vec::new(); query_count];
    std::thread::scope(|scope| {
        for (chunk_index, chunk) in results.chunks_mut(per_thread).enumerate() {
            scope.spawn(move || {
                for (offset, result) in chunk.iter_mut().enumerate() {
                    let q = chunk_index * per_thread + offset;
                    let query = &queries[q * words..(q + 1) * words];
                    *result = search_one(layout, metric, database, query, k);
                }
            });
        }
    });
    Ok(results)
}

fn search_one(
    layout: &CodeLayout,
    metric: &Metric,
    database: &[u64],
    query: &[u64],
    k: usize,
) -> Vec<Neighbor> {
    let words = layout.words_per_example;
    let mut heap: BinaryHeap<Entry> = BinaryHeap::with_capacity(k + 1);
    if k == 0 {
        return Vec::new();
    }
    for (index, code) in database.chunks_exact(words).enumerate() {
        let entry = Entry(distance(layout, metric, query, code), index);
        if heap.len() < k {
            heap.push(entry);
        } else if heap.peek().is_some_and(|worst| entry < *worst) {
            heap.pop();
            heap.push(entry);
        }
    }
    heap.into_sorted_vec()
        .into_iter()
        .map(|Entry(distance, index)| Neighbor { index, distance })
        .collect()
}
