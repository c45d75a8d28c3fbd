//! Cutting a convex polygon into the cells where one of several affine functions is the
//! maximum: max-pool windows and the top logit.

use super::polygon::{Line, Polygon};

/// Cuts `polygon` into convex cells on each of which one candidate of `candidates` is a
/// maximum, and appends the cells to `cells`.
///
/// Each cell is cut only along differences `f_j - f_k` of two candidates, so cells meet where
/// the argmax changes and a candidate that is the maximum on all of `polygon` leaves it whole.
/// Candidates equal up to rounding everywhere (coincident functions) are never separated: the
/// first of them wins, as in a max-pool forward pass.
pub(crate) fn cut_by_argmax(
    polygon: Polygon,
    candidates: &[Line],
    min_area: f64,
    cells: &mut Vec<Polygon>,
) {
    let radius = polygon.radius();
    // Each level separates one pair of candidates, and a pair is never picked again below it.
    let mut pending = vec![polygon];
    while let Some(polygon) = pending.pop() {
        let Some((winner, loser)) = conflicting_pair(&polygon, candidates, radius) else {
            cells.push(polygon);
            continue;
        };
        let difference = candidates[winner].minus(&candidates[loser]);
        let tolerance = difference.tolerance(radius);
        let cut = polygon.cut(&difference, tolerance, min_area);
        match (cut.negative, cut.positive) {
            (Some(negative), Some(positive)) => {
                pending.push(negative);
                pending.push(positive);
            }
            // The conflict was within rounding of a vertex or a sliver: keep the polygon.
            (Some(whole), None) | (None, Some(whole)) => cells.push(whole),
            (None, None) => unreachable!("a cut keeps the polygon on at least one side"),
        }
    }
}

/// Returns the first candidate that is a maximum at `point` within rounding: the argmax that
/// the forward pass picks when candidates tie.
pub(crate) fn argmax_at(candidates: &[Line], point: [f64; 2], radius: f64) -> usize {
    let values: Vec<f64> = candidates.iter().map(|line| line.at(point)).collect();
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let scale = candidates
        .iter()
        .map(|line| line.tolerance(radius))
        .fold(0.0, f64::max);
    values
        .iter()
        .position(|&value| value >= max - scale)
        .expect("at least one candidate")
}

/// Finds the candidate `winner` that is the maximum at the centroid and a candidate `loser`
/// that beats it at some vertex, or `None` when `winner` is a maximum on the whole polygon.
fn conflicting_pair(polygon: &Polygon, candidates: &[Line], radius: f64) -> Option<(usize, usize)> {
    let winner = argmax_at(candidates, polygon.centroid(), radius);
    for &vertex in polygon.vertices() {
        let best = argmax_at(candidates, vertex, radius);
        if best == winner {
            continue;
        }
        let gap = candidates[best].at(vertex) - candidates[winner].at(vertex);
        let tolerance = candidates[best]
            .minus(&candidates[winner])
            .tolerance(radius);
        if gap > tolerance {
            return Some((winner, best));
        }
    }
    None
}
