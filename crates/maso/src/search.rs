//! Exact k-nearest-neighbour search over stored region codes.
//!
//! The scan compares each database code with a block of queries while the code is in cache.
//! It counts differing codes with AVX-512 population counts for a single 1-bit layer, else
//! with the `popcnt` instruction, where the CPU has them (detected at run time), and keeps a
//! sorted top-k list per query. Queries are split over threads.

use crate::codes::{CodeLayout, differing_units};
use crate::{MasoError, Result};
use std::ops::Range;

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

/// Queries compared against each database code while it is in cache.
const QUERY_BLOCK: usize = 8;

/// One layer's share of a metric: its words, bits per code, unit count and weight.
struct Term {
    words: Range<usize>,
    bits: usize,
    units: f64,
    weight: f64,
}

fn terms(layout: &CodeLayout, metric: &Metric) -> Vec<Term> {
    let term = |index: usize, weight: f64| {
        let layer = &layout.layers[index];
        Term {
            words: layer.word_offset..layer.word_offset + layer.words,
            bits: layer.bits,
            units: layer.units.max(1) as f64,
            weight,
        }
    };
    match metric {
        Metric::Layer(index) => vec![term(*index, 1.0)],
        Metric::Combined(weights) => weights
            .iter()
            .map(|&(index, weight)| term(index, weight))
            .collect(),
    }
}

/// Number of differing codes of `bits` bits each. Inlined into the `popcnt` scan, the
/// `count_ones` calls compile to that instruction.
#[inline(always)]
fn differing(bits: usize, a: &[u64], b: &[u64]) -> u32 {
    if bits == 1 {
        a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
    } else {
        differing_units(bits, a, b)
    }
}

/// Computes the metric's distance with the same arithmetic as
/// [`crate::codes::layer_distance`], so that both agree to the last bit.
#[inline(always)]
fn distance(terms: &[Term], a: &[u64], b: &[u64]) -> f64 {
    match terms {
        [term] if term.weight == 1.0 => {
            differing(term.bits, &a[term.words.clone()], &b[term.words.clone()]) as f64 / term.units
        }
        _ => terms
            .iter()
            .map(|term| {
                let count = differing(term.bits, &a[term.words.clone()], &b[term.words.clone()]);
                term.weight * (count as f64 / term.units)
            })
            .sum(),
    }
}

/// Keeps, per query, the `k` smallest `(distance, index)` pairs, sorted. Database codes arrive
/// in index order, so a code at a query's current worst distance never displaces an earlier
/// one: ties go to the lower index.
#[inline(always)]
fn scan(
    terms: &[Term],
    words: usize,
    database: &[u64],
    queries: &[&[u64]],
    k: usize,
) -> Vec<Vec<Neighbor>> {
    let mut best: Vec<Vec<Neighbor>> = vec![Vec::with_capacity(k + 1); queries.len()];
    if k == 0 {
        return best;
    }
    for (index, code) in database.chunks_exact(words).enumerate() {
        for (query, best) in queries.iter().zip(&mut best) {
            let d = distance(terms, code, query);
            if best.len() == k && d >= best[k - 1].distance {
                continue;
            }
            let position = best.partition_point(|other| other.distance <= d);
            best.insert(position, Neighbor { index, distance: d });
            best.truncate(k);
        }
    }
    best
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn scan_popcnt(
    terms: &[Term],
    words: usize,
    database: &[u64],
    queries: &[&[u64]],
    k: usize,
) -> Vec<Vec<Neighbor>> {
    scan(terms, words, database, queries, k)
}

/// Scans one 1-bit code layer with AVX-512 population counts, 8 words per instruction.
///
/// Ranks by the integer count of differing bits, which orders codes exactly as the normalized
/// distance does, and converts the kept counts with the same arithmetic as [`distance`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
fn scan_avx512(
    term: &Term,
    words: usize,
    database: &[u64],
    queries: &[&[u64]],
    k: usize,
) -> Vec<Vec<Neighbor>> {
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi64, _mm512_loadu_epi64, _mm512_maskz_loadu_epi64,
        _mm512_popcnt_epi64, _mm512_reduce_add_epi64, _mm512_setzero_si512, _mm512_xor_si512,
    };

    let mut best: Vec<Vec<(u32, usize)>> = vec![Vec::with_capacity(k + 1); queries.len()];
    if k == 0 {
        return vec![Vec::new(); queries.len()];
    }
    let layer_words = term.words.len();
    let full_chunks = layer_words / 8;
    let tail = layer_words % 8;
    let tail_mask: u8 = ((1u16 << tail) - 1) as u8;
    let queries: Vec<&[u64]> = queries
        .iter()
        .map(|query| &query[term.words.clone()])
        .collect();

    for (index, code) in database.chunks_exact(words).enumerate() {
        let code = &code[term.words.clone()];
        for (query, best) in queries.iter().zip(&mut best) {
            let mut sum: __m512i = _mm512_setzero_si512();
            for chunk in 0..full_chunks {
                // SAFETY: `chunk * 8 + 8 <= layer_words`, the length of both slices.
                let (a, b) = unsafe {
                    (
                        _mm512_loadu_epi64(code.as_ptr().add(chunk * 8).cast()),
                        _mm512_loadu_epi64(query.as_ptr().add(chunk * 8).cast()),
                    )
                };
                sum = _mm512_add_epi64(sum, _mm512_popcnt_epi64(_mm512_xor_si512(a, b)));
            }
            if tail > 0 {
                // SAFETY: the mask loads only the `tail` words that remain in both slices.
                let (a, b) = unsafe {
                    (
                        _mm512_maskz_loadu_epi64(
                            tail_mask,
                            code.as_ptr().add(full_chunks * 8).cast(),
                        ),
                        _mm512_maskz_loadu_epi64(
                            tail_mask,
                            query.as_ptr().add(full_chunks * 8).cast(),
                        ),
                    )
                };
                sum = _mm512_add_epi64(sum, _mm512_popcnt_epi64(_mm512_xor_si512(a, b)));
            }
            let count = _mm512_reduce_add_epi64(sum) as u32;
            if best.len() == k && count >= best[k - 1].0 {
                continue;
            }
            let position = best.partition_point(|other| other.0 <= count);
            best.insert(position, (count, index));
            best.truncate(k);
        }
    }
    best.into_iter()
        .map(|found| {
            found
                .into_iter()
                .map(|(count, index)| Neighbor {
                    index,
                    distance: count as f64 / term.units,
                })
                .collect()
        })
        .collect()
}

fn scan_block(
    terms: &[Term],
    words: usize,
    database: &[u64],
    queries: &[&[u64]],
    k: usize,
) -> Vec<Vec<Neighbor>> {
    #[cfg(target_arch = "x86_64")]
    {
        if let [term] = terms
            && term.bits == 1
            && term.weight == 1.0
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
        {
            // SAFETY: the CPU supports AVX-512F and VPOPCNTDQ, checked just above.
            return unsafe { scan_avx512(term, words, database, queries, k) };
        }
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports `popcnt`, checked just above.
            return unsafe { scan_popcnt(terms, words, database, queries, k) };
        }
    }
    scan(terms, words, database, queries, k)
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
    let terms = terms(layout, metric);
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
            let terms = &terms;
            scope.spawn(move || {
                let first = chunk_index * per_thread;
                for (block_index, block) in chunk.chunks_mut(QUERY_BLOCK).enumerate() {
                    let start = first + block_index * QUERY_BLOCK;
                    let block_queries: Vec<&[u64]> = (start..start + block.len())
                        .map(|q| &queries[q * words..(q + 1) * words])
                        .collect();
                    let found = scan_block(terms, words, database, &block_queries, k);
                    for (result, neighbors) in block.iter_mut().zip(found) {
                        *result = neighbors;
                    }
                }
            });
        }
    });
    Ok(results)
}
