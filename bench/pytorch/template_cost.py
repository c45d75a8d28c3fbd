"""Measure the cost of the input Jacobian (all 10 class templates) relative to one forward pass.

For each architecture in eval mode over one batch this reports the median
over repeats of the mean seconds per call, for:
- `forward_seconds`: one forward pass under torch.no_grad.
- `jacobian_seconds`: torch.func.vmap(torch.func.jacrev(f)), where f maps one
  1x28x28 input to its 10 logits.
- `jacobian_to_forward_ratio`: jacobian_seconds / forward_seconds.
- `backward_loop_seconds`: the plain approach, one forward pass with the input
  requiring grad and then 10 torch.autograd.grad calls, one per class on
  logits[:, c].sum(). The forward pass is included in this time.
- `backward_loop_to_forward_ratio`: backward_loop_seconds / forward_seconds.

Parameters have requires_grad turned off, so only input gradients are built.
In eval mode batch norm uses its running statistics, so the samples do not
interact and the backward loop yields the same per-sample Jacobians as vmap.
"""

from __future__ import annotations

import math

import harness

torch = harness.import_torch_or_exit()

import models  # noqa: E402 (needs torch, which is checked above)


def parse_args():
    parser = harness.base_parser(__doc__.splitlines()[0], repeats=5)
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls of each method before timing, at least 1 (default: 2)")
    parser.add_argument(
        "--min-repeat-seconds",
        type=float,
        default=0.25,
        help=(
            "minimum length of one repeat in seconds. A repeat averages as many calls as fit, "
            "so short calls such as the MLP forward pass are timed over many iterations (default: 0.25)"
        ),
    )
    parser.add_argument(
        "--architectures",
        nargs="+",
        choices=list(models.ARCHITECTURES),
        default=list(models.ARCHITECTURES),
        help="architectures to measure (default: all)",
    )
    args = parser.parse_args()
    harness.validate_options(parser, args, ["threads", "batch", "repeats", "warmup"])
    if args.min_repeat_seconds < 0:
        parser.error(f"--min-repeat-seconds must be at least 0, got {args.min_repeat_seconds}")
    return args


def build_frozen(architecture: str) -> torch.nn.Module:
    model = models.build(architecture).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def jacobian_vmap(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Return d logits / d input with shape (batch, classes, 1, 28, 28) via vmap over jacrev."""

    def logits_of_one(image: torch.Tensor) -> torch.Tensor:
        return model(image.unsqueeze(0)).squeeze(0)

    return torch.func.vmap(torch.func.jacrev(logits_of_one))(images)


def jacobian_backward_loop(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Return the same Jacobian as `jacobian_vmap` from one forward pass and one backward pass per class."""
    inputs = images.detach().requires_grad_(True)
    logits = model(inputs)
    num_classes = logits.shape[1]
    templates = []
    for c in range(num_classes):
        (gradient,) = torch.autograd.grad(logits[:, c].sum(), inputs, retain_graph=c + 1 < num_classes)
        templates.append(gradient)
    return torch.stack(templates, dim=1)


def forward_no_grad(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(images)


def time_method(args, function) -> tuple[harness.Repeats, int]:
    """Time `function` after the warm-up calls and return the repeats and the calls per repeat.

    The last warm-up call sets the calls per repeat, so that a repeat lasts at
    least --min-repeat-seconds. A repeat that spans many /proc/stat clock ticks
    keeps other_cpu_fractions meaningful even for calls of about 1 ms.
    """
    harness.time_seconds(function, args.warmup - 1)
    seconds_per_call = harness.time_seconds(function, 1)
    calls = max(1, math.ceil(args.min_repeat_seconds / seconds_per_call))
    return harness.time_repeats(args, function, calls), calls


def measure(args, architecture: str) -> None:
    model = build_frozen(architecture)
    images, _ = harness.synthetic_batch(torch, args.batch, models.NUM_CLASSES, models.IMAGE_SIZE)

    # Both methods must agree before their times mean anything.
    by_vmap = jacobian_vmap(model, images)
    by_loop = jacobian_backward_loop(model, images)
    max_abs_difference = (by_vmap - by_loop).abs().max().item()
    if not torch.allclose(by_vmap, by_loop, rtol=1e-4, atol=1e-5):
        raise RuntimeError(
            f"{architecture}: vmap(jacrev) and the backward loop disagree, max abs difference {max_abs_difference}"
        )

    forward, forward_calls = time_method(args, lambda: forward_no_grad(model, images))
    jacobian, jacobian_calls = time_method(args, lambda: jacobian_vmap(model, images))
    backward_loop, backward_loop_calls = time_method(args, lambda: jacobian_backward_loop(model, images))

    common = {"mode": "eval", "warmup_calls": args.warmup, "data": harness.DATA_NOTE}
    emit_method(args, "forward_seconds", architecture, forward, forward_calls, "torch.no_grad forward", common)
    emit_method(
        args, "jacobian_seconds", architecture, jacobian, jacobian_calls, "torch.func.vmap(torch.func.jacrev(f))",
        common, max_abs_difference_to_backward_loop=max_abs_difference,
    )
    emit_ratio(args, "jacobian_to_forward_ratio", architecture, jacobian, forward, common)
    emit_method(
        args, "backward_loop_seconds", architecture, backward_loop, backward_loop_calls,
        "1 forward + 10 torch.autograd.grad calls", common,
    )
    emit_ratio(args, "backward_loop_to_forward_ratio", architecture, backward_loop, forward, common)


def emit_method(args, name: str, architecture: str, repeats: harness.Repeats, calls: int, method: str, common: dict, **extra):
    harness.emit(
        torch, args, name, architecture, repeats.seconds_per_call, "s", repeats.other_cpu_fractions,
        repeats.discarded, method=method, calls_per_repeat=calls, **common, **extra,
    )


def emit_ratio(args, name: str, architecture: str, numerator: harness.Repeats, denominator: harness.Repeats, common: dict):
    """Print numerator / denominator per repeat index, with the larger other-CPU share of each pair."""
    ratios = [n / d for n, d in zip(numerator.seconds_per_call, denominator.seconds_per_call)]
    other_cpu = harness.pairwise_max(numerator.other_cpu_fractions, denominator.other_cpu_fractions)
    discarded = numerator.discarded + denominator.discarded
    harness.emit(torch, args, name, architecture, ratios, "ratio", other_cpu, discarded, **common)


def main() -> None:
    args = parse_args()
    harness.configure_torch(torch, args.threads, args.seed)
    for architecture in args.architectures:
        measure(args, architecture)


if __name__ == "__main__":
    main()
