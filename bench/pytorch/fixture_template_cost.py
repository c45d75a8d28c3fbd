"""Measure the input Jacobian (A[x]) of the import-test fixtures' PyTorch models.

The models are those of `python/export_fixtures.py` (`resnet_bn`, 3x8x8
inputs, 3 classes) and the SmallCNN built by `python/maso_pytorch.py` (the
architecture of `small_cnn.state_dict.safetensors`), in eval mode. The times
are comparable with `cargo run --release -p maso-import --example import_cost`:
the same batch of random normal inputs and the same metrics as
`template_cost.py` (forward, vmap(jacrev), and the backward loop).
"""

from __future__ import annotations

import sys
from pathlib import Path

import harness

torch = harness.import_torch_or_exit()

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import export_fixtures  # noqa: E402 (needs torch, which is checked above)
import maso_pytorch  # noqa: E402
import template_cost  # noqa: E402


def frozen(model: torch.nn.Module) -> torch.nn.Module:
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def fixtures() -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    resnet, resnet_shape = export_fixtures.resnet_bn()
    small_cnn = maso_pytorch.from_config(maso_pytorch.small_cnn())
    return {
        "resnet_bn": (frozen(resnet), resnet_shape),
        "small_cnn_state_dict": (frozen(small_cnn), (1, 28, 28)),
    }


def main() -> None:
    parser = harness.base_parser(__doc__.splitlines()[0], repeats=5)
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls of each method before timing, at least 1 (default: 2)")
    parser.add_argument("--min-repeat-seconds", type=float, default=0.25, help="minimum length of one repeat in seconds (default: 0.25)")
    args = parser.parse_args()
    harness.validate_options(parser, args, ["threads", "batch", "repeats", "warmup"])
    harness.configure_torch(torch, args.threads, args.seed)

    for name, (model, shape) in fixtures().items():
        images = torch.randn(args.batch, *shape)
        by_vmap = template_cost.jacobian_vmap(model, images)
        by_loop = template_cost.jacobian_backward_loop(model, images)
        if not torch.allclose(by_vmap, by_loop, rtol=1e-4, atol=1e-5):
            raise RuntimeError(f"{name}: vmap(jacrev) and the backward loop disagree")
        forward, forward_calls = template_cost.time_method(args, lambda: template_cost.forward_no_grad(model, images))
        jacobian, jacobian_calls = template_cost.time_method(args, lambda: template_cost.jacobian_vmap(model, images))
        loop, loop_calls = template_cost.time_method(args, lambda: template_cost.jacobian_backward_loop(model, images))
        common = {"mode": "eval", "warmup_calls": args.warmup, "data": "random normal inputs"}
        template_cost.emit_method(args, "forward_seconds", name, forward, forward_calls, "torch.no_grad forward", common)
        template_cost.emit_method(
            args, "jacobian_seconds", name, jacobian, jacobian_calls, "torch.func.vmap(torch.func.jacrev(f))", common
        )
        template_cost.emit_method(
            args, "backward_loop_seconds", name, loop, loop_calls, "1 forward + one torch.autograd.grad call per class", common
        )


if __name__ == "__main__":
    main()
