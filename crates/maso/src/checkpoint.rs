//! Checkpoints: a JSON description, safetensors weights and the optimizer state.
//!
//! A checkpoint directory contains
//!
//! - `model.json`: [`CheckpointMeta`], the architecture, normalization and training history;
//! - `model.safetensors`: the parameters and batch-norm running averages;
//! - `optimizer.bpk`: the optimizer state (burn's burnpack format), for `--resume`.
//!
//! Every file is written to a temporary name and renamed, and `model.json` last, so an
//! interrupted save leaves the previous checkpoint readable.
//!
//! NOTE: a save interrupted after the weights were renamed leaves the new weights (and
//! optimizer state) beside the previous `model.json`, whose history is then one epoch behind.

use crate::arch::Architecture;
use crate::data::Normalization;
use crate::train::{EpochMetrics, TrainConfig};
use crate::{MasoError, Network, NetworkConfig, Result};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::ModuleOptimizer;
use burn::store::{ModuleSnapshot, SafetensorsStore, SafetensorsStoreError, burn_pack};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Version of the checkpoint layout written by this crate.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// Everything about a checkpoint except its tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// [`CHECKPOINT_FORMAT`] of the writer.
    pub format: u32,
    pub network: NetworkConfig,
    /// The named architecture the network was built from, if any.
    pub architecture: Option<Architecture>,
    pub normalization: Normalization,
    /// Name of the training data set.
    pub dataset: String,
    /// Number of training images, where a run used a subset (`--train-limit`) or the full set.
    #[serde(default)]
    pub train_images: Option<usize>,
    /// The training settings, for runs made by `maso train`.
    pub train: Option<TrainConfig>,
    /// Metrics of every finished epoch.
    pub history: Vec<EpochMetrics>,
}

fn json_path(dir: &Path) -> PathBuf {
    dir.join("model.json")
}

fn weights_path(dir: &Path) -> PathBuf {
    dir.join("model.safetensors")
}

fn optimizer_path(dir: &Path) -> PathBuf {
    dir.join("optimizer.bpk")
}

fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> MasoError {
    let path = path.to_path_buf();
    move |source| MasoError::Io {
        action,
        path,
        source,
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(io_error("failed to rename into", to))
}

/// Saves `network` (and `optimizer`, when given) with `meta` into the directory `dir`,
/// creating it if needed.
pub fn save_checkpoint(
    dir: &Path,
    network: &Network,
    meta: &CheckpointMeta,
    optimizer: Option<&ModuleOptimizer>,
) -> Result<()> {
    fs::create_dir_all(dir).map_err(io_error("failed to create checkpoint directory", dir))?;

    let weights = weights_path(dir);
    let partial = temporary(&weights);
    let mut store = SafetensorsStore::from_file(&partial);
    network
        .valid()
        .save_into(&mut store)
        .map_err(|error| MasoError::Checkpoint {
            path: weights.clone(),
            detail: format!("failed to write the weights: {error}"),
        })?;
    rename(&partial, &weights)?;

    if let Some(optimizer) = optimizer {
        let path = optimizer_path(dir);
        let partial = temporary(&path);
        optimizer
            .save(&partial)
            .map_err(|error| MasoError::Checkpoint {
                path: path.clone(),
                detail: format!("failed to write the optimizer state: {error}"),
            })?;
        rename(&partial, &path)?;
    } else {
        // A state left by an earlier save would be applied to the new weights on resume.
        let path = optimizer_path(dir);
        if path.exists() {
            fs::remove_file(&path).map_err(io_error("failed to remove the stale", &path))?;
        }
    }

    let path = json_path(dir);
    let partial = temporary(&path);
    let text = serde_json::to_string_pretty(meta).map_err(|source| MasoError::Json {
        path: path.clone(),
        source,
    })?;
    fs::write(&partial, text + "\n").map_err(io_error("failed to write", &partial))?;
    rename(&partial, &path)
}

/// Reads the description of the checkpoint in `dir`.
pub fn load_meta(dir: &Path) -> Result<CheckpointMeta> {
    let path = json_path(dir);
    let text = fs::read_to_string(&path).map_err(io_error(
        "failed to read the checkpoint description (is this a directory written by `maso train`?)",
        &path,
    ))?;
    let meta: CheckpointMeta = serde_json::from_str(&text).map_err(|source| MasoError::Json {
        path: path.clone(),
        source,
    })?;
    if meta.format != CHECKPOINT_FORMAT {
        return Err(MasoError::Checkpoint {
            path,
            detail: format!(
                "format {} is not the supported format {CHECKPOINT_FORMAT}; re-create the checkpoint with this version of maso",
                meta.format
            ),
        });
    }
    Ok(meta)
}

/// Loads the checkpoint in `dir` onto `device`.
///
/// # Errors
///
/// When a file is missing or unreadable, the JSON is invalid, or the weights do not match the
/// architecture (a missing, unexpected or mis-shaped tensor), with each mismatch named.
pub fn load_checkpoint(dir: &Path, device: &Device) -> Result<(Network, CheckpointMeta)> {
    let meta = load_meta(dir)?;
    let mut network = meta.network.init(device)?;
    let path = weights_path(dir);
    if !path.is_file() {
        return Err(MasoError::Io {
            action: "failed to find the weights",
            path,
            source: std::io::ErrorKind::NotFound.into(),
        });
    }
    let mut store = SafetensorsStore::from_file(&path);
    let applied = network.load_from(&mut store).map_err(|error| {
        let detail = match error {
            // burn's validation lists every mis-shaped, missing or unexpected tensor.
            SafetensorsStoreError::ValidationFailed(mismatches) => {
                format!("{mismatches}; the weights belong to another architecture")
            }
            other => format!(
                "failed to read the weights ({other}); the file may be truncated or not safetensors"
            ),
        };
        MasoError::Checkpoint {
            path: path.clone(),
            detail,
        }
    })?;
    let mut problems = Vec::new();
    problems.extend(
        applied
            .missing
            .iter()
            .map(|(name, _)| format!("missing tensor `{name}`")),
    );
    problems.extend(
        applied
            .unused
            .iter()
            .map(|name| format!("unexpected tensor `{name}`")),
    );
    problems.extend(applied.errors.iter().map(|error| format!("{error}")));
    if !problems.is_empty() {
        return Err(MasoError::Checkpoint {
            path,
            detail: format!(
                "{}; the weights belong to another architecture",
                problems.join(", ")
            ),
        });
    }
    Ok((network, meta))
}

/// Loads the optimizer state saved beside a checkpoint into `optimizer`, for `network` loaded
/// from the same checkpoint.
///
/// burn keys the optimizer state (Adam's moments, SGD's momentum) by parameter id, which
/// safetensors does not store, so [`load_checkpoint`] gives the parameters fresh ids. This
/// first gives `network`'s parameters back the ids they had when the state was saved,
/// matched by their path in the module. Without that, the state would apply to no parameter
/// and a resumed run would restart Adam from zero.
///
/// # Errors
///
/// When the file is missing or unreadable, or the state names a parameter that `network`
/// does not have.
pub fn load_optimizer(
    dir: &Path,
    network: &mut Network,
    optimizer: ModuleOptimizer,
) -> Result<ModuleOptimizer> {
    let path = optimizer_path(dir);
    let failed = |error: &dyn std::fmt::Display| MasoError::Checkpoint {
        path: path.clone(),
        detail: format!("failed to read the optimizer state: {error}"),
    };
    // burn's optimizer record stores each parameter's module path as metadata keyed by the
    // decimal parameter id.
    let reader = burn_pack::Reader::from_file_exact(&path).map_err(|error| failed(&error))?;
    let ids: HashMap<String, ParamId> = reader
        .metadata()
        .iter()
        .filter_map(|(id, param_path)| {
            Some((param_path.clone(), ParamId::from(id.parse::<u64>().ok()?)))
        })
        .collect();

    let mut restorer = RestoreParamIds {
        path: Vec::new(),
        ids: &ids,
        restored: HashSet::new(),
    };
    let owned = std::mem::replace(network, network.without_layers());
    *network = owned.map(&mut restorer);
    let mut unknown: Vec<&str> = ids
        .keys()
        .filter(|param_path| !restorer.restored.contains(*param_path))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(MasoError::Checkpoint {
            path,
            detail: format!(
                "the optimizer state is for parameters that the network lacks ({}); it belongs to another architecture",
                unknown.join(", ")
            ),
        });
    }
    optimizer.load(&path).map_err(|error| failed(&error))
}

/// Replaces the id of every float parameter whose module path is in `ids`.
struct RestoreParamIds<'a> {
    path: Vec<String>,
    ids: &'a HashMap<String, ParamId>,
    /// Paths of the parameters whose id was replaced.
    restored: HashSet<String>,
}

impl ModuleMapper for RestoreParamIds<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        let Some(&id) = self.ids.get(&path) else {
            return param;
        };
        self.restored.insert(path);
        let (_, value, mapper) = param.consume();
        Param::from_mapped_value(id, value, mapper)
    }
}
