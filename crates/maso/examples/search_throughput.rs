//! Measures exact k-nearest-neighbour search over region codes: `queries` random codes against
//! `database` random codes of `bits` bits each (one two-piece code layer), k = 10, all cores.
//!
//! Run: `cargo run --release -p maso --example search_throughput [database] [queries] [bits]`
//! (defaults 60000, 10000, 1024). With `--write DIR` it also writes the codes as
//! `DIR/database.npy` and `DIR/queries.npy` (uint64, `[count, bits / 64]`) for the faiss
//! comparison in `bench/faiss/`.

use maso::codes::{CodeKind, CodeLayer, CodeLayout};
use maso::search::{Metric, nearest};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::time::Instant;

fn write_npy(
    path: &std::path::Path,
    codes: &[u64],
    rows: usize,
    words: usize,
) -> std::io::Result<()> {
    let header =
        format!("{{'descr': '<u8', 'fortran_order': False, 'shape': ({rows}, {words}), }}");
    let padding = 64 - (10 + header.len() + 1) % 64;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    file.write_all(b"\x93NUMPY\x01\x00")?;
    file.write_all(&((header.len() + padding + 1) as u16).to_le_bytes())?;
    file.write_all(header.as_bytes())?;
    file.write_all(&vec![b' '; padding])?;
    file.write_all(b"\n")?;
    for word in codes {
        file.write_all(&word.to_le_bytes())?;
    }
    file.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let write_dir = args
        .iter()
        .position(|a| a == "--write")
        .map(|i| args[i + 1].clone());
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let database_count = numbers.first().copied().unwrap_or(60_000);
    let query_count = numbers.get(1).copied().unwrap_or(10_000);
    let bits = numbers.get(2).copied().unwrap_or(1024).div_ceil(64) * 64;
    let words = bits / 64;
    let layout = CodeLayout {
        layers: vec![CodeLayer {
            name: "0".into(),
            kind: CodeKind::Sign,
            units: bits,
            bits: 1,
            word_offset: 0,
            words,
        }],
        words_per_example: words,
    };
    let mut rng = StdRng::seed_from_u64(0);
    let database: Vec<u64> = (0..database_count * words).map(|_| rng.random()).collect();
    let queries: Vec<u64> = (0..query_count * words).map(|_| rng.random()).collect();
    if let Some(dir) = write_dir {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir)?;
        write_npy(&dir.join("database.npy"), &database, database_count, words)?;
        write_npy(&dir.join("queries.npy"), &queries, query_count, words)?;
    }
    let start = Instant::now();
    let found = nearest(&layout, &Metric::Layer(0), &database, &queries, 10, 0)?;
    let seconds = start.elapsed().as_secs_f64();
    let comparisons = (database_count * query_count) as f64;
    println!(
        "{{\"database\": {database_count}, \"queries\": {query_count}, \"bits\": {bits}, \"k\": 10, \"seconds\": {seconds:.3}, \"comparisons_per_second\": {:.3e}, \"first_neighbor_of_query_0\": {}}}",
        comparisons / seconds,
        found[0][0].index
    );
    Ok(())
}
