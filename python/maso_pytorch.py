"""PyTorch modules whose state_dict `maso import --state-dict` loads.

`from_config` builds an `nn.Sequential` from a maso network configuration (the
`network` object of a checkpoint's `model.json`). The parameter names of its
`state_dict` follow one rule, which the Rust side mirrors:

- every maso layer is one child of the `nn.Sequential`, numbered from 0, except
  `global-avg-pool`, which is two children (`AdaptiveAvgPool2d(1)` and `Flatten`);
- a `residual` block is a child with two `nn.Sequential` children, `residual`
  (the body) and `skip` (empty for the identity), numbered by the same rule;
- fully connected and convolution layers store `weight` and `bias`, batch norm
  stores `weight`, `bias`, `running_mean`, `running_var` and
  `num_batches_tracked` (the last is ignored on import).

`mlp`, `small_cnn`, `large_cnn` and `resnet` return the configurations of the
built-in architectures (the same as `maso::arch::Architecture::config`), so
`from_config(small_cnn())` is a SmallCNN that trains in PyTorch and imports
into maso with `maso import --state-dict FILE --arch small-cnn`.
"""

from __future__ import annotations

import torch
from torch import nn


class Residual(nn.Module):
    """`skip(x) + residual(x)`; an empty `skip` is the identity."""

    def __init__(self, body: nn.Sequential, skip: nn.Sequential):
        super().__init__()
        self.residual = body
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.residual(x)


class Abs(nn.Module):
    """Absolute value, the MASO `max(z, -z)`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _chain(layers: list[dict], shape: tuple[int, int, int]) -> tuple[list[nn.Module], tuple[int, int, int]]:
    """Build the modules of a layer chain and return them with the output shape (C, H, W)."""
    modules: list[nn.Module] = []
    for layer in layers:
        kind = layer["type"]
        channels, height, width = shape
        if kind == "linear":
            features = channels * height * width
            modules.append(nn.Linear(features, layer["out_features"], bias=layer.get("bias", True)))
            shape = (layer["out_features"], 1, 1)
        elif kind == "conv2d":
            kernel = _pair(layer["kernel"])
            stride = _pair(layer.get("stride", [1, 1]))
            padding = _pair(layer.get("padding", [0, 0]))
            dilation = _pair(layer.get("dilation", [1, 1]))
            modules.append(
                nn.Conv2d(channels, layer["out_channels"], kernel, stride, padding, dilation, bias=layer.get("bias", True))
            )
            height = (height + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
            width = (width + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
            shape = (layer["out_channels"], height, width)
        elif kind in ("max-pool2d", "avg-pool2d"):
            kernel = _pair(layer["kernel"])
            stride = _pair(layer["stride"])
            padding = _pair(layer.get("padding", [0, 0]))
            pool = nn.MaxPool2d if kind == "max-pool2d" else nn.AvgPool2d
            modules.append(pool(kernel, stride, padding))
            height = (height + 2 * padding[0] - kernel[0]) // stride[0] + 1
            width = (width + 2 * padding[1] - kernel[1]) // stride[1] + 1
            shape = (channels, height, width)
        elif kind == "relu":
            modules.append(nn.ReLU())
        elif kind == "leaky-relu":
            modules.append(nn.LeakyReLU(layer["slope"]))
        elif kind == "abs":
            modules.append(Abs())
        elif kind == "batch-norm":
            epsilon = layer.get("epsilon", 1e-5)
            momentum = layer.get("momentum", 0.1)
            norm = nn.BatchNorm2d if height * width > 1 else nn.BatchNorm1d
            modules.append(norm(channels, eps=epsilon, momentum=momentum))
        elif kind == "dropout":
            modules.append(nn.Dropout(layer["probability"]))
        elif kind == "flatten":
            modules.append(nn.Flatten())
            shape = (channels * height * width, 1, 1)
        elif kind == "global-avg-pool":
            modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            shape = (channels, 1, 1)
        elif kind == "residual":
            body, body_shape = _chain(layer["body"], shape)
            skip, skip_shape = _chain(layer.get("skip", []), shape)
            if body_shape != skip_shape:
                raise ValueError(f"residual paths end in different shapes: {body_shape} and {skip_shape}")
            modules.append(Residual(nn.Sequential(*body), nn.Sequential(*skip)))
            shape = body_shape
        else:
            raise ValueError(f"unknown maso layer type {kind!r}")
    return modules, shape


def from_config(network: dict) -> nn.Sequential:
    """Build the PyTorch module of a maso network configuration ({"input": ..., "layers": [...]})."""
    shape = network["input"]
    modules, _ = _chain(network["layers"], (shape["channels"], shape["height"], shape["width"]))
    return nn.Sequential(*modules)


def _input(channels: int, height: int, width: int) -> dict:
    return {"channels": channels, "height": height, "width": width}


def _conv(out_channels: int, kernel: int, padding: int = 0, stride: int = 1, bias: bool = True) -> dict:
    return {
        "type": "conv2d",
        "out_channels": out_channels,
        "kernel": [kernel, kernel],
        "stride": [stride, stride],
        "padding": [padding, padding],
        "bias": bias,
    }


def _conv_bn_relu(out_channels: int, kernel: int, padding: int) -> list[dict]:
    return [_conv(out_channels, kernel, padding), {"type": "batch-norm"}, {"type": "relu"}]


def _max_pool() -> dict:
    return {"type": "max-pool2d", "kernel": [2, 2], "stride": [2, 2]}


def mlp(widths=(256, 256), activation: str = "relu", classes: int = 10, input_shape=(1, 28, 28)) -> dict:
    """Configuration of the built-in MLP: flatten, then linear + activation per width."""
    layers: list[dict] = [{"type": "flatten"}]
    for width in widths:
        layers += [{"type": "linear", "out_features": width}, {"type": activation}]
    layers.append({"type": "linear", "out_features": classes})
    return {"input": _input(*input_shape), "layers": layers}


def small_cnn(classes: int = 10, input_shape=(1, 28, 28)) -> dict:
    """Configuration of the built-in SmallCNN."""
    layers: list[dict] = []
    for channels, kernel in [(32, 3), (64, 3), (128, 1)]:
        layers += _conv_bn_relu(channels, kernel, 0) + [_max_pool()]
    layers += [{"type": "global-avg-pool"}, {"type": "linear", "out_features": classes, "bias": False}]
    return {"input": _input(*input_shape), "layers": layers}


def large_cnn(classes: int = 10, input_shape=(1, 28, 28)) -> dict:
    """Configuration of the built-in LargeCNN."""
    layers: list[dict] = []
    for padding in (1, 2, 2):
        layers += _conv_bn_relu(96, 3, padding)
    layers.append(_max_pool())
    for padding in (1, 2, 1):
        layers += _conv_bn_relu(192, 3, padding)
    layers.append(_max_pool())
    layers += _conv_bn_relu(192, 3, 0)
    layers += [_conv(192, 1), {"type": "relu"}, _max_pool(), {"type": "flatten"}]
    layers.append({"type": "linear", "out_features": classes})
    return {"input": _input(*input_shape), "layers": layers}


def resnet(blocks: int = 1, width: int = 32, classes: int = 10, input_shape=(1, 28, 28)) -> dict:
    """Configuration of the built-in ResNet with `blocks` residual blocks per stage.

    The defaults are those of `maso train --arch resnet` and `maso import --arch resnet`.
    """

    def body(stage_width: int, stride: int) -> list[dict]:
        return [
            _conv(stage_width, 3, 1, stride),
            {"type": "batch-norm"},
            {"type": "relu"},
            _conv(stage_width, 3, 1),
            {"type": "batch-norm"},
        ]

    layers = _conv_bn_relu(width, 3, 1)
    for stage in range(3):
        stage_width = width << stage
        for block in range(blocks):
            if stage > 0 and block == 0:
                skip = [{"type": "avg-pool2d", "kernel": [2, 2], "stride": [2, 2]}, _conv(stage_width, 1, bias=False)]
                layers.append({"type": "residual", "body": body(stage_width, 2), "skip": skip})
            else:
                layers.append({"type": "residual", "body": body(stage_width, 1), "skip": []})
    layers += [{"type": "global-avg-pool"}, {"type": "linear", "out_features": classes}]
    return {"input": _input(*input_shape), "layers": layers}
