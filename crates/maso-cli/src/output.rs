//! Atomic file output. Every file is written to a temporary file in the target's directory and
//! flushed to disk, then renamed over the target. A reader therefore sees either the old file or
//! the complete new one, never a partial write.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, bail};
use npyz::{AutoSerialize, WriteOptions, WriterBuilder};

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(path, |writer| {
        writer.write_all(bytes)?;
        Ok(())
    })
}

/// Like [`write_atomic`], but the closure writes into the temporary file.
///
/// If the closure or any later step fails, the temporary file is removed and `path` keeps its old
/// content (or stays absent).
// NOTE: the data is synced before the rename, but the directory entry is not, so after a power
// loss the target may still contain its old content. It never contains a partial write.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file_name = path.file_name().with_context(|| {
        format!(
            "invalid output path {}: it has no file name",
            path.display()
        )
    })?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };

    // The temporary file is named after the target so that a leftover one is recognizable.
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(file_name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        // Same mode as `File::create` (0o666 less the umask), not tempfile's default of 0o600.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let temporary = builder.tempfile_in(directory).with_context(|| {
        format!(
            "failed to create a temporary file in {} for {}",
            directory.display(),
            path.display()
        )
    })?;

    // Dropping `temporary_path` on any early return below deletes the temporary file.
    let (file, temporary_path) = temporary.into_parts();
    let mut writer = BufWriter::new(file);
    write(&mut writer).with_context(|| format!("failed to write {}", path.display()))?;
    let file = writer
        .into_inner()
        .map_err(|error| error.into_error())
        .with_context(|| format!("failed to flush {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("failed to sync {} to disk", path.display()))?;
    drop(file);

    temporary_path
        .persist(path)
        .map_err(|error| error.error)
        .with_context(|| format!("failed to rename the temporary file to {}", path.display()))?;
    Ok(())
}

/// Writes a little-endian f32 .npy array of the given shape (C order), atomically.
///
/// Returns an error if `data.len()` differs from the product of `shape`.
pub fn write_npy_f32(path: &Path, data: &[f32], shape: &[usize]) -> anyhow::Result<()> {
    write_npy(path, data, shape)
}

/// Writes a little-endian i64 .npy array of the given shape (C order), atomically.
///
/// Returns an error if `data.len()` differs from the product of `shape`.
pub fn write_npy_i64(path: &Path, data: &[i64], shape: &[usize]) -> anyhow::Result<()> {
    write_npy(path, data, shape)
}

/// Writes a little-endian u64 .npy array of the given shape (C order), atomically.
///
/// Returns an error if `data.len()` differs from the product of `shape`.
pub fn write_npy_u64(path: &Path, data: &[u64], shape: &[usize]) -> anyhow::Result<()> {
    write_npy(path, data, shape)
}

/// Writes `value` as pretty-printed JSON with a trailing newline, atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    write_atomic_with(path, |writer| {
        serde_json::to_writer_pretty(&mut *writer, value)?;
        writer.write_all(b"\n")?;
        Ok(())
    })
}

/// Writes `data` with npyz's default dtype for `T`, which is little-endian for f32 and i64.
fn write_npy<T: AutoSerialize + Copy>(
    path: &Path,
    data: &[T],
    shape: &[usize],
) -> anyhow::Result<()> {
    let expected = element_count(shape).with_context(|| {
        format!(
            "invalid shape {shape:?} for {}: the element count overflows usize",
            path.display()
        )
    })?;
    if data.len() != expected {
        bail!(
            "invalid data for {}: shape {shape:?} needs {expected} elements, found {}",
            path.display(),
            data.len()
        );
    }
    let shape: Vec<u64> = shape.iter().map(|&size| size as u64).collect();

    write_atomic_with(path, |writer| {
        let mut npy = WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(writer)
            .begin_nd()?;
        npy.extend(data.iter().copied())?;
        npy.finish()?;
        Ok(())
    })
}

/// Returns the product of `shape`, or `None` on overflow. An empty shape (a scalar) has one element.
fn element_count(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |count, &size| count.checked_mul(size))
}

/// Prints `value` as JSON on standard output, pretty-printed or on one line.
///
/// A closed pipe (`maso ... | head`) ends the output quietly instead of failing the command.
pub fn print_json<T: serde::Serialize>(value: &T, pretty: bool) -> anyhow::Result<()> {
    use std::io::Write;

    let text = if pretty {
        serde_json::to_string_pretty(value)?
    } else {
        serde_json::to_string(value)?
    };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists the file names in `directory`, sorted.
    fn file_names(directory: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn npy_f32_round_trip() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("values.npy");
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();

        write_npy_f32(&path, &data, &[2, 3, 4]).unwrap();

        let bytes = std::fs::read(&path).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 3, 4]);
        assert_eq!(npy.order(), npyz::Order::C);
        assert_eq!(npy.dtype().descr(), "'<f4'");
        let read: Vec<f32> = npy.into_vec().unwrap();
        assert_eq!(read, data);
    }

    #[test]
    fn npy_i64_round_trip() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("labels.npy");
        let data: Vec<i64> = vec![0, 9, -1, i64::MAX, i64::MIN, 3];

        write_npy_i64(&path, &data, &[6]).unwrap();

        let bytes = std::fs::read(&path).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[6]);
        assert_eq!(npy.dtype().descr(), "'<i8'");
        let read: Vec<i64> = npy.into_vec().unwrap();
        assert_eq!(read, data);
    }

    #[test]
    fn npy_empty_and_scalar_shapes() {
        let directory = tempfile::tempdir().unwrap();
        let empty = directory.path().join("empty.npy");
        let scalar = directory.path().join("scalar.npy");

        write_npy_f32(&empty, &[], &[0, 5]).unwrap();
        write_npy_f32(&scalar, &[1.25], &[]).unwrap();

        let bytes = std::fs::read(&empty).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[0, 5]);
        let bytes = std::fs::read(&scalar).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[] as &[u64]);
        assert_eq!(npy.into_vec::<f32>().unwrap(), vec![1.25]);
    }

    #[test]
    fn npy_shape_mismatch_is_error() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("values.npy");

        let error = write_npy_f32(&path, &[1.0, 2.0, 3.0], &[2, 2]).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("needs 4 elements, found 3"), "{message}");
        assert!(message.contains("values.npy"), "{message}");
        assert!(!path.exists());
        assert!(file_names(directory.path()).is_empty());
    }

    #[test]
    fn npy_shape_overflow_is_error() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("values.npy");

        let error = write_npy_i64(&path, &[], &[usize::MAX, 2]).unwrap_err();
        assert!(format!("{error:#}").contains("overflows"), "{error:#}");
    }

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("out.bin");

        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();

        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(file_names(directory.path()), vec!["out.bin".to_string()]);
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_mode_matches_create() {
        use std::os::unix::fs::PermissionsExt;
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("out.bin");
        let reference = directory.path().join("reference.bin");

        write_atomic(&path, b"data").unwrap();
        File::create(&reference).unwrap();

        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let reference_mode = std::fs::metadata(&reference).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, reference_mode);
    }

    #[test]
    fn failed_closure_keeps_target_untouched() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("out.json");
        std::fs::write(&path, b"old content").unwrap();

        let result = write_atomic_with(&path, |writer| {
            writer.write_all(b"partial")?;
            bail!("simulated failure")
        });

        let error = result.unwrap_err();
        assert!(
            format!("{error:#}").contains("simulated failure"),
            "{error:#}"
        );
        assert!(format!("{error:#}").contains("out.json"), "{error:#}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old content");
        assert_eq!(file_names(directory.path()), vec!["out.json".to_string()]);
    }

    #[test]
    fn failed_closure_creates_no_target() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("new.bin");

        let result = write_atomic_with(&path, |_| bail!("simulated failure"));

        assert!(result.is_err());
        assert!(file_names(directory.path()).is_empty());
    }

    #[test]
    fn missing_directory_is_error() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("absent").join("out.bin");

        let error = write_atomic(&path, b"data").unwrap_err();
        assert!(format!("{error:#}").contains("absent"), "{error:#}");
    }

    #[test]
    fn json_is_pretty_with_newline() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("summary.json");
        let value = serde_json::json!({ "accuracy": 0.5, "classes": [0, 1] });

        write_json(&path, &value).unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"), "{text}");
        assert!(text.contains("\n  \"accuracy\": 0.5"), "{text}");
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, value);
    }
}
