//! Prints the region-code size of each built-in architecture on 1x28x28 and 3x32x32 inputs:
//! code layers, bits per image and bytes per image (whole 64-bit words).
//!
//! Run: `cargo run --release -p maso --example code_bits`.

use burn::tensor::Device;
use maso::FeatureShape;
use maso::arch::{ARCHITECTURE_NAMES, Architecture};
use maso::codes::CodeLayout;

fn main() -> Result<(), maso::MasoError> {
    let device = Device::flex();
    for name in ARCHITECTURE_NAMES {
        let architecture: Architecture = name.parse()?;
        for input in [FeatureShape::new(1, 28, 28), FeatureShape::new(3, 32, 32)] {
            let network = architecture.config(input, 10)?.init(&device)?;
            let layout = CodeLayout::of(&network)?;
            println!(
                "{{\"architecture\": \"{architecture}\", \"input\": \"{input}\", \"code_layers\": {}, \"bits_per_image\": {}, \"bytes_per_image\": {}}}",
                layout.layers.len(),
                layout.bits_per_example(),
                layout.words_per_example * 8
            );
        }
    }
    Ok(())
}
