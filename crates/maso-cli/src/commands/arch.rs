//! `--arch` and its hyperparameters, shared by `maso train` and `maso import --state-dict`.

use anyhow::Result;
use clap::{Args, ValueEnum};
use maso::arch::Architecture;
use maso::layer::ActivationKind;

#[derive(Args, Debug, Clone)]
pub struct ArchArgs {
    /// Architecture: mlp, small-cnn, large-cnn or resnet.
    #[arg(long, default_value = "small-cnn")]
    pub arch: String,
    /// MLP hidden widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "256,256")]
    pub widths: Vec<usize>,
    /// MLP activation.
    #[arg(long, value_enum, default_value_t = Activation::Relu)]
    pub activation: Activation,
    /// Negative slope of leaky-relu.
    #[arg(long, default_value_t = 0.1)]
    pub leaky_slope: f64,
    /// ResNet residual blocks per stage.
    #[arg(long, default_value_t = 1)]
    pub blocks: usize,
    /// ResNet width of the first stage (the next stages double it).
    #[arg(long, default_value_t = 32)]
    pub width: usize,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Activation {
    Relu,
    LeakyRelu,
    Abs,
}

impl ArchArgs {
    /// Builds the named architecture with these hyperparameters.
    pub fn architecture(&self) -> Result<Architecture> {
        let arch: Architecture = self.arch.parse()?;
        Ok(match arch {
            Architecture::Mlp { .. } => {
                let activation = match self.activation {
                    Activation::Relu => ActivationKind::Relu,
                    Activation::LeakyRelu => ActivationKind::LeakyRelu {
                        slope: self.leaky_slope,
                    },
                    Activation::Abs => ActivationKind::Abs,
                };
                Architecture::Mlp {
                    widths: self.widths.clone(),
                    activation,
                }
            }
            Architecture::ResNet { .. } => Architecture::ResNet {
                blocks: self.blocks,
                width: self.width,
            },
            other => other,
        })
    }
}
