"""Export the PyTorch models behind the import tests of `crates/maso-import`.

For each model this writes, into the fixture directory:

- `NAME.torchscript.onnx` and `NAME.dynamo.onnx`: the model exported by
  `torch.onnx.export` with the TorchScript-based exporter and with the dynamo
  exporter (for `resnet_bn`, with its weights in `resnet_bn.dynamo.onnx.data`);
- `NAME.expected.safetensors`: f32 tensors `inputs` [N, C, H, W], `outputs`
  [N, classes] and `jacobians` [N, classes, C*H*W] from `torch.func.jacrev`,
  and `offsets` [N, classes], `outputs - jacobians @ inputs`.

It also writes `small_cnn.state_dict.safetensors` (a SmallCNN built by
`maso_pytorch`, with its expected outputs in `small_cnn.expected.safetensors`)
and `state_dict_names.json`, the names and shapes of the state_dict of every
built-in architecture.

Run it from the repository root with a Python that has torch, onnx, onnxscript
and safetensors:

    python python/export_fixtures.py --out crates/maso-import/tests/fixtures
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import maso_pytorch  # noqa: E402


class Abs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.abs(x)


def mlp_leaky_abs() -> tuple[nn.Module, tuple[int, ...]]:
    """MLP on 1x4x5 inputs with leaky ReLU, batch norm, absolute value and a trailing softmax."""
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(20, 16),
        nn.LeakyReLU(0.1),
        nn.BatchNorm1d(16),
        nn.Linear(16, 12),
        Abs(),
        nn.Dropout(0.5),
        nn.Linear(12, 5),
    )
    return model, (1, 4, 5)


def cnn_pool() -> tuple[nn.Module, tuple[int, ...]]:
    """CNN on 2x12x12 inputs with overlapping padded max-pool, batch norm and average pool."""
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.BatchNorm2d(4),
        nn.Conv2d(4, 6, 3, stride=1, dilation=1),
        nn.LeakyReLU(0.2),
        nn.AvgPool2d(2, stride=2),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 4),
    )
    return model, (2, 12, 12)


class Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Transition(nn.Module):
    def __init__(self, in_width: int, out_width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_width, out_width, 3, stride=2, padding=1),
            nn.BatchNorm2d(out_width),
            nn.ReLU(),
            nn.Conv2d(out_width, out_width, 3, padding=1),
            nn.BatchNorm2d(out_width),
        )
        self.skip = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(in_width, out_width, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


def resnet_bn() -> tuple[nn.Module, tuple[int, ...]]:
    """Residual CNN on 3x8x8 inputs with batch norm, an identity and a projection skip."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        Block(4),
        Transition(4, 8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    )
    return model, (3, 8, 8)


MODELS = {"mlp_leaky_abs": mlp_leaky_abs, "cnn_pool": cnn_pool, "resnet_bn": resnet_bn}


def untrained_duplicates() -> nn.Module:
    """An MLP whose zero biases and fresh batch norms hold equal tensors.

    The TorchScript-based exporter stores equal tensors once and adds an Identity
    node for every copy, so importing it must treat those nodes as constants.
    """
    model = nn.Sequential(
        nn.Linear(6, 4),
        nn.ReLU(),
        nn.BatchNorm1d(4),
        nn.Linear(4, 4),
        nn.ReLU(),
        nn.BatchNorm1d(4),
        nn.Linear(4, 2),
    )
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.Linear):
                module.bias.zero_()
    return model.eval()


def tanh_mlp() -> nn.Module:
    """An MLP with tanh, which is not piecewise affine: its import must fail."""
    return nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 2))


def write_hand_built(out: Path, generator: torch.Generator, examples: int) -> None:
    """Write ONNX graphs that the PyTorch exporters do not produce, built with onnx.helper.

    - `matmul_add.onnx`: MatMul + Add layers, a Constant shape for a Reshape and
      an input whose every dimension is symbolic, so importing needs an input
      shape from the user (6 features);
    - `unsupported_op.onnx`: a Transpose between two layers.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    first = torch.randn(6, 5, generator=generator)
    first_bias = torch.randn(5, generator=generator)
    second = torch.randn(5, 3, generator=generator)
    second_bias = torch.randn(3, generator=generator)
    initializers = [
        numpy_helper.from_array(tensor.numpy(), name)
        for name, tensor in [("w1", first), ("b1", first_bias), ("w2", second), ("b2", second_bias)]
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="matmul_1"),
        helper.make_node("Add", ["h", "b1"], ["h_bias"], name="add_1"),
        helper.make_node("Relu", ["h_bias"], ["r"], name="relu_1"),
        helper.make_node(
            "Constant", [], ["shape"], name="shape", value=numpy_helper.from_array(torch.tensor([0, -1]).numpy())
        ),
        helper.make_node("Reshape", ["r", "shape"], ["flat"], name="reshape"),
        helper.make_node("Identity", ["flat"], ["same"], name="identity"),
        helper.make_node("MatMul", ["same", "w2"], ["o"], name="matmul_2"),
        helper.make_node("Add", ["b2", "o"], ["y"], name="add_2"),
    ]
    graph = helper.make_graph(
        nodes,
        "matmul_add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "features"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(out / "matmul_add.onnx"))

    def function(x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ first + first_bias) @ second + second_bias

    inputs = torch.randn(examples, 6, generator=generator)
    save_file(expected(function, inputs), str(out / "matmul_add.expected.safetensors"))

    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="matmul_1"),
        helper.make_node("Transpose", ["h"], ["t"], name="swap_axes", perm=[1, 0]),
        helper.make_node("Relu", ["t"], ["y"], name="relu_1"),
    ]
    graph = helper.make_graph(
        nodes,
        "unsupported_op",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 1])],
        initializers[:1],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(out / "unsupported_op.onnx"))


def randomize_batch_norm(model: nn.Module, generator: torch.Generator) -> None:
    """Give every batch norm non-trivial running statistics and affine parameters."""
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=generator) * 0.1)


def expected(model, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Outputs, Jacobians with respect to the input and offsets b = f(x) - A x."""
    outputs = model(inputs)
    jacobians = torch.stack([torch.func.jacrev(model)(x.unsqueeze(0))[0, :, 0].flatten(1) for x in inputs])
    flat = inputs.flatten(1)
    offsets = outputs - torch.einsum("ncd,nd->nc", jacobians, flat)
    return {
        "inputs": inputs.contiguous(),
        "outputs": outputs.detach().contiguous(),
        "jacobians": jacobians.detach().contiguous(),
        "offsets": offsets.detach().contiguous(),
    }


def export(model: nn.Module, example: torch.Tensor, path: Path, dynamo: bool, external_data: bool = False) -> None:
    path.unlink(missing_ok=True)
    # Batch size is the only dynamic dimension, as in most exported classifiers.
    if dynamo:
        batch = torch.export.Dim("batch")
        torch.onnx.export(
            model, (example,), str(path), dynamo=True, dynamic_shapes=({0: batch},), external_data=external_data
        )
    else:
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="fixture directory")
    parser.add_argument("--examples", type=int, default=4, help="inputs per model")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)

    for name, build in MODELS.items():
        model, shape = build()
        randomize_batch_norm(model, generator)
        model.eval()
        inputs = torch.randn(args.examples, *shape, generator=generator)
        if name == "mlp_leaky_abs":
            exported = nn.Sequential(model, nn.Softmax(dim=1)).eval()
        else:
            exported = model
        for dynamo in (False, True):
            kind = "dynamo" if dynamo else "torchscript"
            # The residual CNN keeps the dynamo exporter's default of weights in a separate
            # `.onnx.data` file, so that import reads external data too.
            external_data = dynamo and name == "resnet_bn"
            export(exported, inputs[:2], args.out / f"{name}.{kind}.onnx", dynamo, external_data)
        save_file(expected(model, inputs), str(args.out / f"{name}.expected.safetensors"))
        print(f"exported {name}")

    write_hand_built(args.out, generator, args.examples)
    duplicates = untrained_duplicates()
    inputs = torch.randn(args.examples, 6, generator=generator)
    export(duplicates, inputs[:2], args.out / "untrained_duplicates.torchscript.onnx", dynamo=False)
    save_file(expected(duplicates, inputs), str(args.out / "untrained_duplicates.expected.safetensors"))
    tanh = tanh_mlp().eval()
    export(tanh, torch.randn(2, 6, generator=generator), args.out / "tanh_mlp.torchscript.onnx", dynamo=False)

    small_cnn = maso_pytorch.from_config(maso_pytorch.small_cnn())
    randomize_batch_norm(small_cnn, generator)
    small_cnn.eval()
    state = {key: value.contiguous() for key, value in small_cnn.state_dict().items()}
    save_file(state, str(args.out / "small_cnn.state_dict.safetensors"))
    inputs = torch.randn(args.examples, 1, 28, 28, generator=generator)
    save_file(expected(small_cnn, inputs), str(args.out / "small_cnn.expected.safetensors"))

    names = {}
    configs = {
        "mlp": maso_pytorch.mlp(),
        "small-cnn": maso_pytorch.small_cnn(),
        "large-cnn": maso_pytorch.large_cnn(),
        "resnet": maso_pytorch.resnet(),
    }
    for arch, config in configs.items():
        module = maso_pytorch.from_config(config)
        names[arch] = {key: list(value.shape) for key, value in module.state_dict().items()}
    (args.out / "state_dict_names.json").write_text(json.dumps(names, indent=1) + "\n")
    print("exported state_dict fixtures")

    # Forgetting model.eval(): the dynamo exporter still writes an inference batch norm, whose
    # name is the only sign of training mode, so import warns about it.
    train_mode = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2)).train()
    export(train_mode, torch.randn(2, 1, 4, 4, generator=generator), args.out / "train_mode.dynamo.onnx", dynamo=True)


if __name__ == "__main__":
    main()
