"""Time exact binary k-nearest-neighbour search with faiss IndexBinaryFlat.

Reads DIR/database.npy and DIR/queries.npy, the uint64 code files that
`cargo run --release -p maso --example search_throughput ... --write DIR`
writes, and prints one JSON line in the same shape as that example's output.
"""

import argparse
import json
import os
import statistics
import sys
import time

try:
    import faiss
    import numpy as np
except ImportError:
    # faiss-cpu depends on numpy, so a missing numpy also means faiss is unusable.
    faiss = None

K = 10
WARMUP_QUERIES = 16
REPEATS = 3


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="directory that contains database.npy and queries.npy")
    parser.add_argument("--threads", type=int, default=2, help="OpenMP threads for faiss (default 2)")
    parser.add_argument(
        "--check",
        metavar="FILE",
        help="JSON list with one list of maso neighbour indices per query. "
        "Adds the fraction of queries whose neighbour distances match faiss",
    )
    return parser.parse_args()


def load_codes(path):
    """Load a [count, words] uint64 code array, one row per code of words * 64 bits."""
    codes = np.load(path)
    if codes.dtype != np.dtype("<u8") or codes.ndim != 2:
        sys.exit(
            f"error: {path} has dtype {codes.dtype} and shape {codes.shape}, "
            "but a 2-D little-endian uint64 array is expected. Write it with the search_throughput example."
        )
    return np.ascontiguousarray(codes)


def popcount_rows(words):
    """Count the set bits of each row of a uint64 array."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)
    return np.unpackbits(words.view(np.uint8), axis=-1).sum(axis=-1, dtype=np.int64)


def time_search(index, queries):
    """Return the faiss results and the seconds of each timed full search."""
    index.search(queries[:WARMUP_QUERIES], K)
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        distances, labels = index.search(queries, K)
        samples.append(time.perf_counter() - start)
    return distances, labels, samples


def check_against(path, database, queries, faiss_distances):
    """Return the fraction of queries whose sorted neighbour distances from `path` equal faiss's.

    Compares distances, not indices, because codes at equal distance may be
    returned in a different order or swapped at the k-th place.
    """
    with open(path) as file:
        expected = json.load(file)
    if len(expected) != len(queries):
        sys.exit(f"error: {path} has {len(expected)} neighbour lists but there are {len(queries)} queries")
    agreeing = 0
    for row, indices in enumerate(expected):
        if len(indices) != K:
            sys.exit(f"error: {path} has {len(indices)} neighbours for query {row}; expected k = {K}")
        differing = np.bitwise_xor(database[np.asarray(indices, dtype=np.int64)], queries[row])
        maso_distances = np.sort(popcount_rows(differing))
        if np.array_equal(maso_distances, faiss_distances[row].astype(np.int64)):
            agreeing += 1
    return agreeing / len(queries)


def main():
    args = parse_args()
    if args.threads < 1:
        sys.exit(f"error: --threads must be at least 1, got {args.threads}")
    if faiss is None:
        print("skipped: faiss is not installed", file=sys.stderr)
        return 0

    database = load_codes(os.path.join(args.dir, "database.npy"))
    queries = load_codes(os.path.join(args.dir, "queries.npy"))
    if database.shape[1] != queries.shape[1]:
        sys.exit(f"error: database codes have {database.shape[1]} words but queries have {queries.shape[1]}")
    bits = database.shape[1] * 64

    faiss.omp_set_num_threads(args.threads)
    index = faiss.IndexBinaryFlat(bits)
    # A row view as uint8 keeps the little-endian byte order, so byte j contains
    # bits 8j..8j+7 of the code and Hamming distances match maso's.
    index.add(database.view(np.uint8))
    load_before = os.getloadavg()[0]
    distances, labels, samples = time_search(index, queries.view(np.uint8))

    seconds = statistics.median(samples)
    record = {
        "faiss_version": faiss.__version__,
        "database": len(database),
        "queries": len(queries),
        "bits": bits,
        "k": K,
        "seconds": float(f"{seconds:.4g}"),
        "comparisons_per_second": float(f"{len(database) * len(queries) / seconds:.3e}"),
        "threads": args.threads,
        "samples": [float(f"{s:.4g}") for s in samples],
        "first_neighbor_of_query_0": int(labels[0][0]),
        "load_average_1min_before": load_before,
    }
    if args.check:
        record["check_fraction_agreeing"] = check_against(args.check, database, queries, distances)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
