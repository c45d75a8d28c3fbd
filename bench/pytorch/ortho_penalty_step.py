"""Measure the SmallCNN training step time with and without the template orthogonality penalty.

The penalized loss is cross-entropy + lambda * P with

    P = 1 / (C^2 N) * sum_n sum_{c != c'} <A_c[x_n], A_c'[x_n]>^2,
    A_c[x_n] = d logit_c / d x_n,

where the C templates come from one torch.autograd.grad(logits[:, c].sum(),
x, create_graph=True) call per class, so the update differentiates through
those gradients (double backward). Both variants run in train mode with SGD
(lr 0.01, momentum 0.9) on one seeded synthetic batch reused every step.
"""

from __future__ import annotations

import harness

torch = harness.import_torch_or_exit()

import models  # noqa: E402 (needs torch, which is checked above)

ARCHITECTURE = "small_cnn"


def parse_args():
    parser = harness.base_parser(__doc__.splitlines()[0], repeats=5)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each variant before timing (default: 3)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per repeat (default: 5)")
    parser.add_argument("--penalty-weight", type=float, default=1.0, help="lambda, the weight of P in the loss (default: 1.0)")
    args = parser.parse_args()
    harness.validate_options(parser, args, ["threads", "batch", "repeats", "steps"])
    if args.warmup < 0:
        parser.error(f"--warmup must be at least 0, got {args.warmup}")
    return args


def orthogonality_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Return P, the mean squared inner product between different class templates.

    NOTE: in train mode batch norm mixes the samples of a batch, so the
    gradient of logits[:, c].sum() with respect to x_n also carries terms from
    the other samples through the batch statistics. This script measures that
    per-class autograd.grad form, not an exact per-sample Jacobian.
    """
    batch, num_classes = logits.shape
    templates = []
    for c in range(num_classes):
        (gradient,) = torch.autograd.grad(logits[:, c].sum(), inputs, create_graph=True)
        templates.append(gradient.reshape(batch, -1))
    stacked = torch.stack(templates, dim=1)
    gram = torch.bmm(stacked, stacked.transpose(1, 2))
    off_diagonal_sum = gram.pow(2).sum() - torch.diagonal(gram, dim1=1, dim2=2).pow(2).sum()
    return off_diagonal_sum / (num_classes**2 * batch)


def make_train_step(args, images: torch.Tensor, labels: torch.Tensor, with_penalty: bool):
    """Build a fresh seeded SmallCNN and return a function that runs one training step on it."""
    torch.manual_seed(args.seed)
    model = models.build(ARCHITECTURE).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_function = torch.nn.CrossEntropyLoss()

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        inputs = images.detach().requires_grad_(with_penalty)
        logits = model(inputs)
        loss = loss_function(logits, labels)
        if with_penalty:
            loss = loss + args.penalty_weight * orthogonality_penalty(logits, inputs)
        loss.backward()
        optimizer.step()

    return train_step


def time_steps(args, train_step) -> harness.Repeats:
    """Time the training step after the warm-up steps."""
    harness.time_seconds(train_step, args.warmup)
    return harness.time_repeats(args, train_step, args.steps)


def main() -> None:
    args = parse_args()
    harness.configure_torch(torch, args.threads, args.seed)
    images, labels = harness.synthetic_batch(torch, args.batch, models.NUM_CLASSES, models.IMAGE_SIZE)

    cross_entropy = time_steps(args, make_train_step(args, images, labels, with_penalty=False))
    penalized = time_steps(args, make_train_step(args, images, labels, with_penalty=True))

    # Each ratio sample pairs the repeats with the same index.
    ratio = [p / c for p, c in zip(penalized.seconds_per_call, cross_entropy.seconds_per_call)]
    ratio_other_cpu = harness.pairwise_max(penalized.other_cpu_fractions, cross_entropy.other_cpu_fractions)

    common = {
        "mode": "train",
        "steps_per_repeat": args.steps,
        "warmup_steps": args.warmup,
        "optimizer": "SGD lr=0.01 momentum=0.9",
        "data": harness.DATA_NOTE,
    }
    harness.emit(
        torch, args, "step_seconds_cross_entropy", ARCHITECTURE, cross_entropy.seconds_per_call, "s",
        cross_entropy.other_cpu_fractions, cross_entropy.discarded, **common,
    )
    harness.emit(
        torch, args, "step_seconds_cross_entropy_plus_penalty", ARCHITECTURE, penalized.seconds_per_call, "s",
        penalized.other_cpu_fractions, penalized.discarded, penalty_weight=args.penalty_weight, **common,
    )
    harness.emit(
        torch, args, "penalty_to_cross_entropy_step_ratio", ARCHITECTURE, ratio, "ratio",
        ratio_other_cpu, penalized.discarded + cross_entropy.discarded, penalty_weight=args.penalty_weight, **common,
    )


if __name__ == "__main__":
    main()
