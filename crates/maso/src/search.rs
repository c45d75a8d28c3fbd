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

/// Queries compared against each database code while it is in cache.
const QUERY_BLOCK: usize = 8;

/// Top-k by integer bit distance over one 1-bit code layer for a block of queries, ties to the
/// lower index.
fn scan_bits(
    layer: &CodeLayer,
    words: usize,
    database: &[u64],
    queries: &[&[u64]],
    k: usize,
) -> Vec<Vec<Neighbor>> {
    let range = layer.word_offset..layer.word_offset + layer.words;
    let queries: Vec<&[u64]> = queries.iter().map(|query| &query[range.clone()]).collect();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports `popcnt`, checked just above.
            let best = unsafe { scan_bits_popcnt(database, words, range, &queries, k) };
            return to_neighbors(best, layer.units);
        }
    }
    to_neighbors(
        scan_bits_portable(database, words, range, &queries, k),
        layer.units,
    )
}

fn to_neighbors(best: Vec<Vec<(u32, usize)>>, units: usize) -> Vec<Vec<Neighbor>> {
    best.into_iter()
        .map(|list| {
            list.into_iter()
                .map(|(bits, index)| Neighbor {
                    index,
                    distance: bits as f64 / units.max(1) as f64,
                })
                .collect()
        })
        .collect()
}

/// Keeps, per query, the `k` smallest `(distance, index)` pairs, sorted. Database codes arrive
/// in index order, so a code at a query's current worst distance never displaces an earlier
/// one.
#[inline(always)]
fn scan_with(
    database: &[u64],
    words: usize,
    range: std::ops::Range<usize>,
    queries: &[&[u64]],
    k: usize,
    distance: impl Fn(&[u64], &[u64]) -> u32,
) -> Vec<Vec<(u32, usize)>> {
    let mut best: Vec<Vec<(u32, usize)>> = vec![Vec::with_capacity(k + 1); queries.len()];
    if k == 0 {
        return best;
    }
    for (index, code) in database.chunks_exact(words).enumerate() {
        let code = &code[range.clone()];
        for (query, best) in queries.iter().zip(&mut best) {
            let d = distance(code, query);
            if best.len() == k && d >= best[k - 1].0 {
                continue;
            }
            let position = best.partition_point(|&(other, _)| other <= d);
            best.insert(position, (d, index));
            best.truncate(k);
        }
    }
    best
}

fn xor_count(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

fn scan_bits_portable(
    database: &[u64],
    words: usize,
    range: std::ops::Range<usize>,
    queries: &[&[u64]],
    k: usize,
) -> Vec<Vec<(u32, usize)>> {
    scan_with(database, words, range, queries, k, xor_count)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn scan_bits_popcnt(
    database: &[u64],
    words: usize,
    range: std::ops::Range<usize>,
    queries: &[&[u64]],
    k: usize,
) -> Vec<Vec<(u32, usize)>> {
    // Inlined here, `count_ones` compiles to the popcnt instruction.
    scan_with(database, words, range, queries, k, |a, b| {
        a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
    })
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
                let first = chunk_index * per_thread;
                for (block_index, block) in chunk.chunks_mut(QUERY_BLOCK).enumerate() {
                    let start = first + block_index * QUERY_BLOCK;
                    let block_queries: Vec<&[u64]> = (start..start + block.len())
                        .map(|q| &queries[q * words..(q + 1) * words])
                        .collect();
                    let found = search_block(layout, metric, database, &block_queries, k);
                    for (result, neighbors) in block.iter_mut().zip(found) {
                        *result = neighbors;
                    }
                }
            });
        }
    });
    Ok(results)
}

fn search_block(
    layout: &CodeLayout,
    metric: &Metric,
    database: &[u64],
    queries: &[&[u64]],
    k: usize,
) -> Vec<Vec<Neighbor>> {
    if let Metric::Layer(index) = metric {
        let layer = &layout.layers[*index];
        if layer.bits == 1 {
            return scan_bits(layer, layout.words_per_example, database, queries, k);
        }
    }
    queries
        .iter()
        .map(|query| search_one(layout, metric, database, query, k))
        .collect()
}

/// Any metric, one query at a time, with floating-point distances.
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
