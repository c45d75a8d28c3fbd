"""Times regioncam on the random ReLU MLPs that `slice_throughput` writes.

Usage:
    cargo run --release -p maso --example slice_throughput -- --write /tmp/slice-nets
    python compare_regions.py /tmp/slice-nets [--repeats 3]

Each network is `w{width}_d{depth}/weight{i}.npy` ([out, in], float32) and `bias{i}.npy`.
regioncam (PyPI, float32) slices the input plane [-1, 1]^2 with `Regioncam(size=1)`, the same
slice as the Rust example. Prints one line per network: width, depth, regions, the best wall
time of `--repeats` runs, and regions per second.
"""

import argparse
import pathlib
import time

import numpy as np
import regioncam


def load(directory):
    layers = []
    i = 0
    while (directory / f"weight{i}.npy").exists():
        weight = np.load(directory / f"weight{i}.npy")
        bias = np.load(directory / f"bias{i}.npy")
        # regioncam multiplies x @ weight, so it takes the [in, out] transpose.
        layers.append((np.ascontiguousarray(weight.T), bias))
        i += 1
    return layers


def run(layers):
    camera = regioncam.Regioncam(size=1)
    for weight, bias in layers:
        camera.linear(weight, bias)
        camera.relu()
    return camera.num_faces


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("networks", type=pathlib.Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"regioncam {regioncam.__version__}")
    print("width depth regions seconds regions_per_second")
    directories = sorted(
        args.networks.glob("w*_d*"),
        key=lambda d: tuple(int(part[1:]) for part in d.name.split("_")),
    )
    for directory in directories:
        width, depth = (int(part[1:]) for part in directory.name.split("_"))
        layers = load(directory)
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            regions = run(layers)
            best = min(best, time.perf_counter() - start)
        print(f"{width} {depth} {regions} {best:.4f} {regions / best:.0f}")


if __name__ == "__main__":
    main()
