//! Convex polygons in slice coordinates, in f64, and their cuts by lines.

use serde::{Deserialize, Serialize};

/// The affine function `offset + slope[0] u1 + slope[1] u2` of the slice coordinates `u`.
///
/// Its zero set is a line, and a polygon is cut where the function changes sign.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub offset: f64,
    pub slope: [f64; 2],
}

impl Line {
    /// Evaluates the affine function at `point`.
    #[inline]
    pub fn at(&self, point: [f64; 2]) -> f64 {
        self.offset + self.slope[0] * point[0] + self.slope[1] * point[1]
    }

    /// Returns the difference `self - other` of the two affine functions.
    pub fn minus(&self, other: &Line) -> Line {
        Line {
            offset: self.offset - other.offset,
            slope: [
                self.slope[0] - other.slope[0],
                self.slope[1] - other.slope[1],
            ],
        }
    }

    /// Values within this tolerance of 0 count as on the line, for points of a polygon whose
    /// coordinates are at most `radius` in absolute value.
    ///
    /// The tolerance is relative: `1e-11` times the largest term of the sum at such a point, so
    /// a cut that misses a vertex by a few rounding errors passes through it.
    #[inline]
    pub fn tolerance(&self, radius: f64) -> f64 {
        RELATIVE_TOLERANCE
            * (self.offset.abs() + (self.slope[0].abs() + self.slope[1].abs()) * radius)
    }
}

/// Relative tolerance of sign tests and of the vertices that a cut merges.
pub(crate) const RELATIVE_TOLERANCE: f64 = 1e-11;

/// A convex polygon with its vertices in counter-clockwise order, in slice coordinates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Polygon {
    vertices: Vec<[f64; 2]>,
}

/// The parts of a polygon on the two sides of a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    /// Part where the line's function is negative or zero, if it has area.
    pub negative: Option<Polygon>,
    /// Part where the line's function is positive or zero, if it has area.
    pub positive: Option<Polygon>,
}

impl Polygon {
    /// Creates the axis-aligned rectangle `[min[0], max[0]] x [min[1], max[1]]`.
    pub fn rectangle(min: [f64; 2], max: [f64; 2]) -> Self {
        Self {
            vertices: vec![min, [max[0], min[1]], max, [min[0], max[1]]],
        }
    }

    /// Creates a polygon from vertices that are already convex and counter-clockwise.
    ///
    /// [`Polygon::is_convex`] checks that they are.
    pub fn from_vertices(vertices: Vec<[f64; 2]>) -> Self {
        Self { vertices }
    }

    /// Vertices in counter-clockwise order.
    pub fn vertices(&self) -> &[[f64; 2]] {
        &self.vertices
    }

    /// Signed area, positive for counter-clockwise vertices (shoelace formula).
    pub fn area(&self) -> f64 {
        let origin = self.vertices[0];
        let mut twice = 0.0;
        for window in self.vertices[1..].windows(2) {
            let a = [window[0][0] - origin[0], window[0][1] - origin[1]];
            let b = [window[1][0] - origin[0], window[1][1] - origin[1]];
            twice += a[0] * b[1] - a[1] * b[0];
        }
        0.5 * twice
    }

    /// Centroid of the polygon's area.
    pub fn centroid(&self) -> [f64; 2] {
        let origin = self.vertices[0];
        let (mut twice_area, mut x, mut y) = (0.0, 0.0, 0.0);
        for window in self.vertices[1..].windows(2) {
            let a = [window[0][0] - origin[0], window[0][1] - origin[1]];
            let b = [window[1][0] - origin[0], window[1][1] - origin[1]];
            let cross = a[0] * b[1] - a[1] * b[0];
            twice_area += cross;
            x += (a[0] + b[0]) * cross;
            y += (a[1] + b[1]) * cross;
        }
        if twice_area == 0.0 {
            return self.vertex_mean();
        }
        [
            origin[0] + x / (3.0 * twice_area),
            origin[1] + y / (3.0 * twice_area),
        ]
    }

    fn vertex_mean(&self) -> [f64; 2] {
        let count = self.vertices.len() as f64;
        let sum = self
            .vertices
            .iter()
            .fold([0.0, 0.0], |sum, v| [sum[0] + v[0], sum[1] + v[1]]);
        [sum[0] / count, sum[1] / count]
    }

    /// Largest absolute coordinate of a vertex: the `radius` of [`Line::tolerance`].
    pub fn radius(&self) -> f64 {
        self.vertices
            .iter()
            .fold(0.0f64, |radius, v| radius.max(v[0].abs()).max(v[1].abs()))
    }

    /// Returns the minimum and maximum of `line` over the polygon, reached at vertices.
    pub fn range(&self, line: &Line) -> (f64, f64) {
        self.vertices
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), &v| {
                let value = line.at(v);
                (low.min(value), high.max(value))
            })
    }

    /// Cuts the polygon along the zero line of `line`.
    ///
    /// Vertices whose value lies within `tolerance` of 0 lie on the line and go to both parts,
    /// so a cut through a vertex creates no new vertex there. A part with an area below
    /// `min_area` is a sliver: the cut is then not made and the whole polygon goes to the
    /// other side, so no area is lost or counted twice.
    pub fn cut(&self, line: &Line, tolerance: f64, min_area: f64) -> Cut {
        let values: Vec<f64> = self.vertices.iter().map(|&v| line.at(v)).collect();
        let has_negative = values.iter().any(|&value| value < -tolerance);
        let has_positive = values.iter().any(|&value| value > tolerance);
        if !has_positive {
            return Cut {
                negative: Some(self.clone()),
                positive: None,
            };
        }
        if !has_negative {
            return Cut {
                negative: None,
                positive: Some(self.clone()),
            };
        }
        let count = self.vertices.len();
        let mut negative = Vec::with_capacity(count + 2);
        let mut positive = Vec::with_capacity(count + 2);
        for i in 0..count {
            let (v, value) = (self.vertices[i], values[i]);
            let side = sign(value, tolerance);
            if side <= 0 {
                negative.push(v);
            }
            if side >= 0 {
                positive.push(v);
            }
            let j = (i + 1) % count;
            let next_side = sign(values[j], tolerance);
            if side * next_side < 0 {
                // The edge crosses the line strictly inside: both parts get the crossing.
                let t = value / (value - values[j]);
                let w = self.vertices[j];
                let crossing = [v[0] + t * (w[0] - v[0]), v[1] + t * (w[1] - v[1])];
                negative.push(crossing);
                positive.push(crossing);
            }
        }
        let negative = Polygon::from_vertices(negative);
        let positive = Polygon::from_vertices(positive);
        if negative.vertices.len() < 3 || negative.area() < min_area {
            return Cut {
                negative: None,
                positive: Some(self.clone()),
            };
        }
        if positive.vertices.len() < 3 || positive.area() < min_area {
            return Cut {
                negative: Some(self.clone()),
                positive: None,
            };
        }
        Cut {
            negative: Some(negative),
            positive: Some(positive),
        }
    }

    /// Checks whether every turn is counter-clockwise or straight, within `tolerance` of the cross
    /// product, and the polygon has at least three vertices.
    pub fn is_convex(&self, tolerance: f64) -> bool {
        let count = self.vertices.len();
        if count < 3 {
            return false;
        }
        (0..count).all(|i| {
            let a = self.vertices[i];
            let b = self.vertices[(i + 1) % count];
            let c = self.vertices[(i + 2) % count];
            let cross = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]);
            cross >= -tolerance
        })
    }

    /// Checks whether `point` lies inside the polygon or within `tolerance` (a distance) of it.
    pub fn contains(&self, point: [f64; 2], tolerance: f64) -> bool {
        self.edge_distances(point)
            .all(|signed_distance| signed_distance >= -tolerance)
    }

    /// Checks whether `point` lies inside the polygon at a distance above `margin` from every edge.
    pub fn contains_strictly(&self, point: [f64; 2], margin: f64) -> bool {
        self.edge_distances(point)
            .all(|signed_distance| signed_distance > margin)
    }

    /// Signed distance of `point` to each edge's line, positive on the inner side.
    fn edge_distances(&self, point: [f64; 2]) -> impl Iterator<Item = f64> + '_ {
        let count = self.vertices.len();
        (0..count).map(move |i| {
            let a = self.vertices[i];
            let b = self.vertices[(i + 1) % count];
            let edge = [b[0] - a[0], b[1] - a[1]];
            let length = edge[0].hypot(edge[1]);
            if length == 0.0 {
                return f64::INFINITY;
            }
            (edge[0] * (point[1] - a[1]) - edge[1] * (point[0] - a[0])) / length
        })
    }

    /// Checks whether the polygon meets the closed disc of `radius` around `center`.
    ///
    /// The test is exact up to rounding: the center lies inside, or some edge passes within
    /// `radius` of it.
    pub fn meets_disc(&self, center: [f64; 2], radius: f64) -> bool {
        if self.contains(center, 0.0) {
            return true;
        }
        let count = self.vertices.len();
        (0..count).any(|i| {
            let a = self.vertices[i];
            let b = self.vertices[(i + 1) % count];
            segment_distance(center, a, b) <= radius
        })
    }

    /// Edges as pairs of consecutive vertices.
    pub fn edges(&self) -> impl Iterator<Item = ([f64; 2], [f64; 2])> + '_ {
        let count = self.vertices.len();
        (0..count).map(move |i| (self.vertices[i], self.vertices[(i + 1) % count]))
    }

    /// Bounding box as `(min, max)`.
    pub fn bounds(&self) -> ([f64; 2], [f64; 2]) {
        self.vertices.iter().fold(
            ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]),
            |(min, max), v| {
                (
                    [min[0].min(v[0]), min[1].min(v[1])],
                    [max[0].max(v[0]), max[1].max(v[1])],
                )
            },
        )
    }
}

fn sign(value: f64, tolerance: f64) -> i32 {
    if value > tolerance {
        1
    } else if value < -tolerance {
        -1
    } else {
        0
    }
}

/// Distance from `point` to the segment from `a` to `b`.
pub(crate) fn segment_distance(point: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let edge = [b[0] - a[0], b[1] - a[1]];
    let length_squared = edge[0] * edge[0] + edge[1] * edge[1];
    let t = if length_squared == 0.0 {
        0.0
    } else {
        (((point[0] - a[0]) * edge[0] + (point[1] - a[1]) * edge[1]) / length_squared)
            .clamp(0.0, 1.0)
    };
    let nearest = [a[0] + t * edge[0], a[1] + t * edge[1]];
    (point[0] - nearest[0]).hypot(point[1] - nearest[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Polygon {
        Polygon::rectangle([-1.0, -1.0], [1.0, 1.0])
    }

    #[test]
    fn cut_through_center_halves_area() {
        let line = Line {
            offset: 0.0,
            slope: [1.0, 0.0],
        };
        let cut = square().cut(&line, 1e-12, 1e-14);
        assert_eq!(cut.negative.as_ref().unwrap().area(), 2.0);
        assert_eq!(cut.positive.as_ref().unwrap().area(), 2.0);
    }

    #[test]
    fn cut_through_vertices_adds_none() {
        // The diagonal u1 = u2 passes through two corners of the square.
        let line = Line {
            offset: 0.0,
            slope: [1.0, -1.0],
        };
        let cut = square().cut(&line, 1e-12, 1e-14);
        assert_eq!(cut.negative.as_ref().unwrap().vertices().len(), 3);
        assert_eq!(cut.positive.as_ref().unwrap().vertices().len(), 3);
    }

    #[test]
    fn cut_along_edge_keeps_polygon() {
        let line = Line {
            offset: 1.0,
            slope: [1.0, 0.0],
        };
        let cut = square().cut(&line, 1e-12, 1e-14);
        assert!(cut.negative.is_none());
        assert_eq!(cut.positive, Some(square()));
    }

    #[test]
    fn sliver_cut_is_not_made() {
        let line = Line {
            offset: 1.0 - 1e-9,
            slope: [1.0, 0.0],
        };
        let cut = square().cut(&line, 1e-12, 1e-6);
        assert!(cut.negative.is_none());
        assert_eq!(cut.positive, Some(square()));
    }

    #[test]
    fn centroid_of_triangle() {
        let triangle = Polygon::from_vertices(vec![[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]]);
        let [x, y] = triangle.centroid();
        assert!((x - 1.0).abs() < 1e-15, "x = {x}");
        assert!((y - 1.0).abs() < 1e-15, "y = {y}");
    }

    #[test]
    fn disc_test_is_exact_at_corner() {
        let corner_distance = 2.0f64.sqrt();
        assert!(square().meets_disc([2.0, 2.0], corner_distance + 1e-12));
        assert!(!square().meets_disc([2.0, 2.0], corner_distance - 1e-9));
    }
}
