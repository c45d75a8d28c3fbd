#!/usr/bin/env bash
# Runs maso's slice_throughput example and regioncam on the same random ReLU MLPs, one network
# after the other, so that both see the same machine load.
#
# Usage: bench/regioncam/run_comparison.sh PYTHON [REPEATS]
#   PYTHON: the interpreter of a virtual environment with regioncam installed
#   (`python -m venv DIR && DIR/bin/pip install regioncam numpy`).
# Both sides run on one thread (RAYON_NUM_THREADS=1; regioncam is single-threaded).
set -euo pipefail
python=${1:?usage: run_comparison.sh PYTHON [REPEATS]}
repeats=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
networks=$(mktemp -d)
trap 'rm -rf "$networks"' EXIT
cd "$root"
cargo build --release -p maso --example slice_throughput
example=target/release/examples/slice_throughput
"$example" --write "$networks" --repeats 1 > /dev/null
echo "tool width depth regions seconds regions_per_second"
for width in 32 64 128 256; do
    for depth in 3 5 8; do
        RAYON_NUM_THREADS=1 "$example" --only "${width}x${depth}" --repeats "$repeats" \
            | tail -n 1 | sed 's/^/maso /'
        only=$(mktemp -d)
        cp -r "$networks/w${width}_d${depth}" "$only/"
        "$python" bench/regioncam/compare_regions.py "$only" --repeats "$repeats" \
            | tail -n 1 | sed 's/^/regioncam /'
        rm -rf "$only"
    done
done
