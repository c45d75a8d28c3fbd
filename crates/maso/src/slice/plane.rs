//! 2-D affine slices of input space.

use crate::{MasoError, Result};
use serde::{Deserialize, Serialize};

/// The plane `x = origin + u1 d1 + u2 d2` of input space, restricted to the rectangle
/// `extent_min <= u <= extent_max` of slice coordinates `u`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlicePlane {
    pub origin: Vec<f64>,
    pub directions: [Vec<f64>; 2],
    pub extent_min: [f64; 2],
    pub extent_max: [f64; 2],
}

impl SlicePlane {
    /// Creates the slice through `origin` along `d1` and `d2` over the given rectangle.
    ///
    /// # Errors
    ///
    /// When the three vectors differ in length, contain non-finite values, the directions are
    /// parallel (or zero), or the rectangle is empty.
    pub fn new(
        origin: Vec<f64>,
        directions: [Vec<f64>; 2],
        extent_min: [f64; 2],
        extent_max: [f64; 2],
    ) -> Result<Self> {
        let dimension = origin.len();
        for (name, vector) in [
            ("slice origin", &origin),
            ("slice direction 1", &directions[0]),
            ("slice direction 2", &directions[1]),
        ] {
            if vector.len() != dimension {
                return Err(MasoError::shape(
                    name,
                    format!("{dimension} values, as the origin"),
                    vector.len(),
                ));
            }
            let count = vector.iter().filter(|value| !value.is_finite()).count();
            if count > 0 {
                return Err(MasoError::NonFinite {
                    what: name.to_string(),
                    count,
                });
            }
        }
        let gram = gram(&directions);
        if gram[0] * gram[2] - gram[1] * gram[1] <= 1e-24 * gram[0] * gram[2] {
            return Err(MasoError::config(
                "slice directions",
                "parallel or zero",
                "the two directions must span a plane",
            ));
        }
        for axis in 0..2 {
            let (low, high) = (extent_min[axis], extent_max[axis]);
            if !(low.is_finite() && high.is_finite() && low < high) {
                return Err(MasoError::config(
                    "slice extent",
                    format!("[{low}, {high}] on axis {}", axis + 1),
                    "each axis needs finite bounds with min < max",
                ));
            }
        }
        Ok(Self {
            origin,
            directions,
            extent_min,
            extent_max,
        })
    }

    /// Creates the input plane of a network with 2-D inputs: `u` is the input itself.
    ///
    /// # Errors
    ///
    /// When the rectangle is empty.
    pub fn input_plane(extent_min: [f64; 2], extent_max: [f64; 2]) -> Result<Self> {
        Self::new(
            vec![0.0, 0.0],
            [vec![1.0, 0.0], vec![0.0, 1.0]],
            extent_min,
            extent_max,
        )
    }

    /// Creates the plane through three inputs, with orthonormal directions so that lengths
    /// and areas in slice coordinates are those of input space.
    ///
    /// The origin is the mean of the three points, `d1` points from the first to the second,
    /// and the rectangle is the bounding box of the three points widened by `margin` times its
    /// larger side on each side.
    ///
    /// # Errors
    ///
    /// When the points differ in length, are not finite, or are collinear.
    pub fn through(points: [&[f64]; 3], margin: f64) -> Result<Self> {
        let dimension = points[0].len();
        for point in &points[1..] {
            if point.len() != dimension {
                return Err(MasoError::shape(
                    "slice point",
                    format!("{dimension} values, as the first point"),
                    point.len(),
                ));
            }
        }
        let origin: Vec<f64> = (0..dimension)
            .map(|i| (points[0][i] + points[1][i] + points[2][i]) / 3.0)
            .collect();
        let first = difference(points[1], points[0]);
        let second = difference(points[2], points[0]);
        let d1 = normalized(first);
        let projection = dot(&second, &d1);
        let d2 = normalized(
            second
                .iter()
                .zip(&d1)
                .map(|(s, d)| s - projection * d)
                .collect(),
        );
        if !(d1.iter().all(|v| v.is_finite()) && d2.iter().all(|v| v.is_finite())) {
            return Err(MasoError::config(
                "slice points",
                "collinear or equal",
                "the three inputs must span a plane",
            ));
        }
        let directions = [d1, d2];
        let coordinates: Vec<[f64; 2]> = points
            .iter()
            .map(|point| {
                let offset = difference(point, &origin);
                [dot(&offset, &directions[0]), dot(&offset, &directions[1])]
            })
            .collect();
        let mut min = [f64::INFINITY; 2];
        let mut max = [f64::NEG_INFINITY; 2];
        for u in &coordinates {
            for axis in 0..2 {
                min[axis] = min[axis].min(u[axis]);
                max[axis] = max[axis].max(u[axis]);
            }
        }
        let side = (max[0] - min[0]).max(max[1] - min[1]);
        let pad = margin * side;
        Self::new(
            origin,
            directions,
            [min[0] - pad, min[1] - pad],
            [max[0] + pad, max[1] + pad],
        )
    }

    /// Dimension of input space.
    pub fn dimension(&self) -> usize {
        self.origin.len()
    }

    /// Area of the rectangle in slice coordinates.
    pub fn area(&self) -> f64 {
        (self.extent_max[0] - self.extent_min[0]) * (self.extent_max[1] - self.extent_min[1])
    }

    /// Returns the input at slice coordinates `u`.
    pub fn point(&self, u: [f64; 2]) -> Vec<f64> {
        self.origin
            .iter()
            .zip(&self.directions[0])
            .zip(&self.directions[1])
            .map(|((o, d1), d2)| o + u[0] * d1 + u[1] * d2)
            .collect()
    }

    /// Returns the slice coordinates of the orthogonal projection of `x` onto the plane.
    ///
    /// # Errors
    ///
    /// When `x` does not have the plane's dimension.
    pub fn project(&self, x: &[f64]) -> Result<[f64; 2]> {
        if x.len() != self.dimension() {
            return Err(MasoError::shape(
                "point to project onto the slice",
                self.dimension(),
                x.len(),
            ));
        }
        let offset = difference(x, &self.origin);
        let right = [
            dot(&offset, &self.directions[0]),
            dot(&offset, &self.directions[1]),
        ];
        let [a, b, c] = gram(&self.directions);
        let determinant = a * c - b * b;
        Ok([
            (c * right[0] - b * right[1]) / determinant,
            (a * right[1] - b * right[0]) / determinant,
        ])
    }
}

fn gram(directions: &[Vec<f64>; 2]) -> [f64; 3] {
    [
        dot(&directions[0], &directions[0]),
        dot(&directions[0], &directions[1]),
        dot(&directions[1], &directions[1]),
    ]
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn difference(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

fn normalized(v: Vec<f64>) -> Vec<f64> {
    let norm = dot(&v, &v).sqrt();
    v.into_iter().map(|x| x / norm).collect()
}
