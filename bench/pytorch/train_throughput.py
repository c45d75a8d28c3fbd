"""Measure PyTorch training throughput (images/s) of SmallCNN and the MLP on CPU.

Each step is forward, cross-entropy, backward and an SGD update (lr 0.01,
momentum 0.9) in train mode. The data is synthetic: one seeded batch of
standard normal 1x28x28 images with uniform random labels, reused every step.
"""

from __future__ import annotations

import harness

torch = harness.import_torch_or_exit()

import models  # noqa: E402 (needs torch, which is checked above)


def parse_args():
    parser = harness.base_parser(__doc__.splitlines()[0], repeats=3)
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before the first repeat (default: 5)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per repeat (default: 50)")
    parser.add_argument(
        "--architectures",
        nargs="+",
        choices=["small_cnn", "mlp"],
        default=["small_cnn", "mlp"],
        help="architectures to measure (default: small_cnn mlp)",
    )
    args = parser.parse_args()
    harness.validate_options(parser, args, ["threads", "batch", "repeats", "steps"])
    if args.warmup < 0:
        parser.error(f"--warmup must be at least 0, got {args.warmup}")
    return args


def measure(args, architecture: str) -> None:
    model = models.build(architecture).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_function = torch.nn.CrossEntropyLoss()
    images, labels = harness.synthetic_batch(torch, args.batch, models.NUM_CLASSES, models.IMAGE_SIZE)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_function(model(images), labels)
        loss.backward()
        optimizer.step()

    harness.time_seconds(train_step, args.warmup)
    repeats = harness.time_repeats(args, train_step, args.steps)
    throughputs = [args.batch / seconds for seconds in repeats.seconds_per_call]

    harness.emit(
        torch,
        args,
        "train_throughput",
        architecture,
        throughputs,
        "images/s",
        repeats.other_cpu_fractions,
        repeats.discarded,
        steps_per_repeat=args.steps,
        warmup_steps=args.warmup,
        optimizer="SGD lr=0.01 momentum=0.9",
        data=harness.DATA_NOTE,
    )


def main() -> None:
    args = parse_args()
    harness.configure_torch(torch, args.threads, args.seed)
    for architecture in args.architectures:
        measure(args, architecture)


if __name__ == "__main__":
    main()
