"""Command-line options, thread setup, timing and JSON output shared by the benchmark scripts.

This module does not import torch, so the scripts can call
`import_torch_or_exit` before anything else needs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import platform
import statistics
import sys
import time

SKIP_MESSAGE = "skipped: PyTorch is not installed"
DATA_NOTE = "synthetic: standard normal inputs and uniform random labels, seeded"


def import_torch_or_exit():
    """Import and return torch, or print the skip message to stderr and exit with status 0.

    Only a missing torch package counts as a skip. Any other import error is
    raised, because a broken installation must not pass silently.
    """
    try:
        return importlib.import_module("torch")
    except ModuleNotFoundError as error:
        if error.name != "torch":
            raise
        print(SKIP_MESSAGE, file=sys.stderr)
        sys.exit(0)


def base_parser(description: str, repeats: int) -> argparse.ArgumentParser:
    """Create a parser with the options that every script takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="intra-op and inter-op thread count for torch (default: 2)",
    )
    parser.add_argument("--batch", type=int, default=128, help="images per batch (default: 128)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=repeats,
        help=f"timed repeats, whose median is the reported value (default: {repeats})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and synthetic data (default: 0)")
    parser.add_argument(
        "--max-other-cpu",
        type=float,
        default=None,
        help=(
            "discard and rerun a repeat during which other processes used more than this share "
            "of all CPUs, from 0 to 1 (default: keep every repeat)"
        ),
    )
    parser.add_argument(
        "--max-discarded",
        type=int,
        default=50,
        help="discarded repeats allowed per measured function before the script fails (default: 50)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=int,
        default=5,
        help="after a discarded repeat, seconds of idle CPUs to wait for before the next repeat (default: 5)",
    )
    return parser


def validate_options(parser: argparse.ArgumentParser, args: argparse.Namespace, positive: list[str]) -> None:
    """Exit through the parser with a usage error when an option value is invalid.

    The options named in `positive` must be at least 1, --max-other-cpu must
    be between 0 and 1, and --max-discarded and --idle-seconds must be at least 0.
    """
    for name in positive:
        value = getattr(args, name)
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.max_other_cpu is not None and not 0 <= args.max_other_cpu <= 1:
        parser.error(f"--max-other-cpu must be between 0 and 1, got {args.max_other_cpu}")
    if args.idle_seconds < 0:
        parser.error(f"--idle-seconds must be at least 0, got {args.idle_seconds}")
    if args.max_discarded < 0:
        parser.error(f"--max-discarded must be at least 0, got {args.max_discarded}")


def configure_torch(torch, threads: int, seed: int) -> None:
    """Set the thread counts and the seed.

    torch.set_num_interop_threads raises a RuntimeError once inter-op work has
    started, so this must run before the first model or tensor is built.
    """
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    torch.manual_seed(seed)


def synthetic_batch(torch, batch: int, num_classes: int, image_size: int):
    """Return random 1-channel images and random class labels."""
    images = torch.randn(batch, 1, image_size, image_size)
    labels = torch.randint(0, num_classes, (batch,))
    return images, labels


def time_seconds(function, iterations: int = 1) -> float:
    """Call `function` `iterations` times and return the elapsed wall-clock seconds."""
    start = time.perf_counter()
    for _ in range(iterations):
        function()
    return time.perf_counter() - start


def read_system_cpu_seconds() -> float | None:
    """Return the CPU seconds used since boot by all processes, plus the steal time given to other guests.

    The value is the sum of the user, nice, system, irq, softirq and steal
    columns of the first line of /proc/stat. It is None where that file is
    missing, as on systems other than Linux.
    """
    try:
        with open("/proc/stat", encoding="utf-8") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def time_with_other_cpu(function, calls: int) -> tuple[float, float | None]:
    """Call `function` `calls` times and return the wall-clock seconds and the other processes' CPU share.

    The share is the CPU time used by everything except this process during
    the calls, divided by wall time x CPU count, so a value near 0 means an
    otherwise idle machine. It is None where /proc/stat is missing.
    /proc/stat counts in clock ticks (USER_HZ, usually 100 per second), so the
    share is coarse for calls that take less than about 0.1 s in total.
    """
    system_start = read_system_cpu_seconds()
    own_start = time.process_time()
    seconds = time_seconds(function, calls)
    own_seconds = time.process_time() - own_start
    system_end = read_system_cpu_seconds()

    if system_start is None or system_end is None:
        return seconds, None
    other_seconds = max(0.0, system_end - system_start - own_seconds)
    return seconds, other_seconds / (seconds * os.cpu_count())


def wait_for_idle_cpus(max_other_cpu: float, quiet_seconds: int) -> None:
    """Sleep until other processes use at most `max_other_cpu` of all CPUs for `quiet_seconds` seconds in a row.

    This process sleeps meanwhile, so it does not slow the other work down.
    Returns at once where /proc/stat is missing.
    """
    quiet = 0
    while quiet < quiet_seconds:
        start = read_system_cpu_seconds()
        time.sleep(1.0)
        end = read_system_cpu_seconds()
        if start is None or end is None:
            return
        quiet = quiet + 1 if (end - start) / os.cpu_count() <= max_other_cpu else 0


@dataclasses.dataclass
class Repeats:
    """Timed repeats of one benchmarked function."""

    seconds_per_call: list[float]
    other_cpu_fractions: list[float | None]
    discarded: int


def time_repeats(args: argparse.Namespace, function, calls: int) -> Repeats:
    """Time `args.repeats` repeats of `calls` calls each.

    With --max-other-cpu set, a repeat during which other processes used a
    larger share of the CPUs is discarded and reported on stderr. The script
    then sleeps until the CPUs have been idle for --idle-seconds and runs the
    repeat again. After more than --max-discarded discards it exits with status 1.
    """
    repeats = Repeats(seconds_per_call=[], other_cpu_fractions=[], discarded=0)
    while len(repeats.seconds_per_call) < args.repeats:
        seconds, other_cpu = time_with_other_cpu(function, calls)
        if args.max_other_cpu is not None and other_cpu is not None and other_cpu > args.max_other_cpu:
            repeats.discarded += 1
            print(
                f"discarded a repeat: other processes used {other_cpu:.2f} of the CPUs, "
                f"above --max-other-cpu {args.max_other_cpu}",
                file=sys.stderr,
                flush=True,
            )
            if repeats.discarded > args.max_discarded:
                sys.exit(
                    f"failed: more than --max-discarded {args.max_discarded} repeats were discarded "
                    "because other processes used the CPUs. Rerun on an idle machine or raise --max-other-cpu."
                )
            wait_for_idle_cpus(args.max_other_cpu, args.idle_seconds)
            continue
        repeats.seconds_per_call.append(seconds / calls)
        repeats.other_cpu_fractions.append(other_cpu)
    return repeats


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or platform.processor() where that file is missing."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def pairwise_max(first: list[float | None], second: list[float | None]) -> list[float | None]:
    """Return the element-wise max of two `other_cpu_fractions` lists, with None where either is None."""
    return [None if a is None or b is None else max(a, b) for a, b in zip(first, second)]


def emit(
    torch,
    args: argparse.Namespace,
    name: str,
    architecture: str,
    samples: list[float],
    unit: str,
    other_cpu_fractions: list[float | None],
    discarded: int,
    **extra,
) -> None:
    """Print one measurement as a JSON line on stdout.

    `value` is the median of `samples`. `spread` is (max - min) / median, so
    0.05 means the repeats span 5% of the median. `other_cpu_fractions` has
    one entry per sample, from `time_repeats`, so that a reader can tell which
    repeats shared the CPUs with other work. `discarded` counts the repeats
    that --max-other-cpu rejected.
    """
    median = statistics.median(samples)
    record = {
        "name": name,
        "architecture": architecture,
        "batch": args.batch,
        "threads": args.threads,
        "value": median,
        "unit": unit,
        "torch_version": torch.__version__,
        "repeats": len(samples),
        "min": min(samples),
        "max": max(samples),
        "spread": (max(samples) - min(samples)) / median if median else None,
        "samples": samples,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "other_cpu_fractions": other_cpu_fractions,
        "max_other_cpu": args.max_other_cpu,
        "discarded_repeats": discarded,
    }
    record.update(extra)
    print(json.dumps(record), flush=True)
