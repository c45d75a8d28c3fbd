//! The on-disk format of region codes: `codes.npy` and `codes.json` in one directory.
//!
//! `codes.npy` is a `uint64` array of shape `[count, words_per_example]` (little-endian, C
//! order), one packed code per example as described in `maso::codes`. `codes.json` describes
//! it: the code layout (layer names, units, bits per unit and word offsets), the SHA-256 of the
//! model's weights file, the data set, split and index range. In Python:
//!
//! ```python
//! import json, numpy as np
//! codes = np.load("codes.npy")            # [count, words] uint64
//! header = json.load(open("codes.json"))
//! layer = header["layout"]["layers"][0]
//! words = codes[:, layer["word_offset"]:layer["word_offset"] + layer["words"]]
//! bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")[:, :layer["units"] * layer["bits"]]
//! ```

use anyhow::{Context, Result, bail};
use maso::codes::CodeLayout;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Version of the code file format written by this build.
pub const CODES_FORMAT: u32 = 1;

/// Contents of `codes.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodesHeader {
    pub format: u32,
    pub layout: CodeLayout,
    /// SHA-256 of the model's `model.safetensors` (or of its ONNX file), in hex.
    pub model_sha256: String,
    /// The checkpoint directory the codes were computed with.
    pub model: PathBuf,
    /// Data set name, such as `mnist/train`.
    pub dataset: String,
    /// Index of the first example in the data set, and the number of examples.
    pub start: usize,
    pub count: usize,
}

/// Hex SHA-256 of a checkpoint's weights file, or of an ONNX model file.
pub fn model_sha256(model: &Path) -> Result<String> {
    let weights = if crate::model::is_onnx(model) {
        model.to_path_buf()
    } else {
        model.join("model.safetensors")
    };
    let bytes =
        std::fs::read(&weights).with_context(|| format!("failed to read {}", weights.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Writes `codes` with `header` into the directory `dir`.
pub fn write_codes(dir: &Path, header: &CodesHeader, codes: &[u64]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let words = header.layout.words_per_example;
    crate::output::write_npy_u64(&dir.join("codes.npy"), codes, &[header.count, words])?;
    crate::output::write_json(&dir.join("codes.json"), header)
}

/// Reads the codes in `dir`, checking the array against its header.
pub fn read_codes(dir: &Path) -> Result<(CodesHeader, Vec<u64>)> {
    let json = dir.join("codes.json");
    let text = std::fs::read_to_string(&json).with_context(|| {
        format!(
            "failed to read {} (is this a directory written by `maso codes`?)",
            json.display()
        )
    })?;
    let header: CodesHeader = serde_json::from_str(&text)
        .with_context(|| format!("invalid code header {}", json.display()))?;
    if header.format != CODES_FORMAT {
        bail!(
            "{} has code format {}, but this build reads format {CODES_FORMAT}; recompute the codes with `maso codes`",
            json.display(),
            header.format
        );
    }
    let npy = dir.join("codes.npy");
    let bytes = std::fs::read(&npy).with_context(|| format!("failed to read {}", npy.display()))?;
    let array = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{} is not a valid .npy file", npy.display()))?;
    let shape: Vec<u64> = array.shape().to_vec();
    let expected = [header.count as u64, header.layout.words_per_example as u64];
    if shape != expected {
        bail!(
            "{} has shape {shape:?}, but its header describes {expected:?} (count, words per example); the files do not belong together",
            npy.display()
        );
    }
    let codes: Vec<u64> = array
        .into_vec()
        .with_context(|| format!("{} does not hold little-endian uint64 codes", npy.display()))?;
    Ok((header, codes))
}

/// Checks that two code sets can be compared: same layout and same model.
pub fn check_compatible(
    a: &CodesHeader,
    a_dir: &Path,
    b: &CodesHeader,
    b_dir: &Path,
) -> Result<()> {
    if a.layout != b.layout {
        bail!(
            "the codes in {} and {} have different layouts; compute both with the same model",
            a_dir.display(),
            b_dir.display()
        );
    }
    if a.model_sha256 != b.model_sha256 {
        bail!(
            "the codes in {} and {} come from different models (weights SHA-256 {} and {}); compute both with the same checkpoint",
            a_dir.display(),
            b_dir.display(),
            &a.model_sha256[..12.min(a.model_sha256.len())],
            &b.model_sha256[..12.min(b.model_sha256.len())]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use maso::codes::{CodeKind, CodeLayer};

    fn header(count: usize, sha: &str) -> CodesHeader {
        CodesHeader {
            format: CODES_FORMAT,
            layout: CodeLayout {
                layers: vec![CodeLayer {
                    name: "1".into(),
                    kind: CodeKind::Sign,
                    units: 70,
                    bits: 1,
                    word_offset: 0,
                    words: 2,
                }],
                words_per_example: 2,
            },
            model_sha256: sha.into(),
            model: PathBuf::from("model"),
            dataset: "mnist/train".into(),
            start: 5,
            count,
        }
    }

    #[test]
    fn codes_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let codes = [1, u64::MAX, 0, 1 << 63, 7, 9];
        write_codes(dir.path(), &header(3, "ab"), &codes).unwrap();
        let (read_header, read_codes) = read_codes(dir.path()).unwrap();
        assert_eq!(read_header, header(3, "ab"));
        assert_eq!(read_codes, codes);
    }

    #[test]
    fn header_count_mismatch_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_codes(dir.path(), &header(3, "ab"), &[0; 6]).unwrap();
        crate::output::write_json(&dir.path().join("codes.json"), &header(4, "ab")).unwrap();
        let error = read_codes(dir.path()).unwrap_err().to_string();
        assert!(error.contains("do not belong together"), "{error}");
    }

    #[test]
    fn wrong_format_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = header(1, "ab");
        old.format = CODES_FORMAT + 1;
        write_codes(dir.path(), &old, &[0; 2]).unwrap();
        let error = read_codes(dir.path()).unwrap_err().to_string();
        assert!(error.contains("recompute the codes"), "{error}");
    }

    #[test]
    fn missing_header_names_file() {
        let dir = tempfile::tempdir().unwrap();
        let error = format!("{:#}", read_codes(dir.path()).unwrap_err());
        assert!(error.contains("codes.json"), "{error}");
    }

    #[test]
    fn truncated_array_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_codes(dir.path(), &header(3, "ab"), &[0; 6]).unwrap();
        let npy = dir.path().join("codes.npy");
        let bytes = std::fs::read(&npy).unwrap();
        std::fs::write(&npy, &bytes[..bytes.len() - 8]).unwrap();
        assert!(read_codes(dir.path()).is_err());
    }

    #[test]
    fn other_model_or_layout_is_incompatible() {
        let first_dir = Path::new("a");
        let second_dir = Path::new("b");
        assert!(
            check_compatible(&header(1, "ab"), first_dir, &header(2, "ab"), second_dir).is_ok()
        );
        let error = check_compatible(&header(1, "ab"), first_dir, &header(1, "cd"), second_dir)
            .unwrap_err()
            .to_string();
        assert!(error.contains("different models"), "{error}");
        let mut other = header(1, "ab");
        other.layout.layers[0].units = 64;
        let error = check_compatible(&header(1, "ab"), first_dir, &other, second_dir)
            .unwrap_err()
            .to_string();
        assert!(error.contains("different layouts"), "{error}");
    }
}
