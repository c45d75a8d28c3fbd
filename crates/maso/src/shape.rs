//! Shapes of the feature maps that flow between layers.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Shape of one example's features: channels x height x width.
///
/// Every activation in a [`Network`](crate::Network) is stored flat, as a `[batch, features]`
/// tensor, so fully connected layers see `channels * height * width` features and convolutions
/// reshape to `[batch, channels, height, width]`. A flat vector of `d` features is `[d, 1, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FeatureShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl FeatureShape {
    /// Creates the shape of an image-like feature map.
    pub const fn new(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
        }
    }

    /// Creates the shape of a flat feature vector of `features` units.
    pub const fn flat(features: usize) -> Self {
        Self::new(features, 1, 1)
    }

    /// Number of units: `channels * height * width`.
    pub const fn numel(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Number of spatial positions: `height * width`.
    pub const fn plane(&self) -> usize {
        self.height * self.width
    }
}

impl fmt::Display for FeatureShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}, {}]", self.channels, self.height, self.width)
    }
}
