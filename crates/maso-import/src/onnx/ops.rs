//! The ONNX ops that import maps onto MASO layers, in one table.

/// One supported ONNX op: the layer it becomes and the conditions on its attributes.
#[derive(Debug, Clone, Copy)]
pub struct SupportedOp {
    pub op_type: &'static str,
    pub layer: &'static str,
    pub conditions: &'static str,
}

/// Every op that import accepts. The conversion code in `convert.rs` matches on the same
/// names; an op missing here is reported as unsupported before conversion starts.
pub const SUPPORTED_OPS: &[SupportedOp] = &[
    SupportedOp {
        op_type: "Gemm",
        layer: "linear",
        conditions: "transA = 0, B and C constant; alpha and beta are folded into the weights",
    },
    SupportedOp {
        op_type: "MatMul",
        layer: "linear",
        conditions: "constant right operand [in, out]; a following Add of a constant [out] becomes the bias",
    },
    SupportedOp {
        op_type: "Add",
        layer: "residual (two computed inputs) or the bias of a MatMul",
        conditions: "both paths start from the same tensor",
    },
    SupportedOp {
        op_type: "Conv",
        layer: "conv2d",
        conditions: "2-D, group = 1, symmetric pads, auto_pad NOTSET or VALID",
    },
    SupportedOp {
        op_type: "Relu",
        layer: "relu",
        conditions: "",
    },
    SupportedOp {
        op_type: "LeakyRelu",
        layer: "leaky-relu",
        conditions: "0 <= alpha < 1, so that it is convex",
    },
    SupportedOp {
        op_type: "Abs",
        layer: "abs",
        conditions: "",
    },
    SupportedOp {
        op_type: "MaxPool",
        layer: "max-pool2d",
        conditions: "2-D, symmetric pads, dilations 1, ceil_mode 0 (or 1 where it adds no window), indices output unused",
    },
    SupportedOp {
        op_type: "AveragePool",
        layer: "avg-pool2d",
        conditions: "2-D, symmetric pads, ceil_mode 0 (or 1 where it adds no window), count_include_pad = 1 when padded",
    },
    SupportedOp {
        op_type: "GlobalAveragePool",
        layer: "global-avg-pool",
        conditions: "",
    },
    SupportedOp {
        op_type: "ReduceMean",
        layer: "global-avg-pool",
        conditions: "axes exactly {2, 3} of a [N, C, H, W] tensor",
    },
    SupportedOp {
        op_type: "BatchNormalization",
        layer: "batch-norm",
        conditions: "inference mode: training_mode = 0 and constant statistics",
    },
    SupportedOp {
        op_type: "Flatten",
        layer: "flatten",
        conditions: "axis = 1",
    },
    SupportedOp {
        op_type: "Reshape",
        layer: "flatten",
        conditions: "constant target shape [N or -1 or 0, features] that flattens each example",
    },
    SupportedOp {
        op_type: "Dropout",
        layer: "(removed)",
        conditions: "inference mode, mask output unused",
    },
    SupportedOp {
        op_type: "Identity",
        layer: "(removed)",
        conditions: "",
    },
    SupportedOp {
        op_type: "Constant",
        layer: "(a constant input of another op)",
        conditions: "",
    },
    SupportedOp {
        op_type: "Softmax",
        layer: "(removed)",
        conditions: "only after the logits, as the graph's last op",
    },
    SupportedOp {
        op_type: "LogSoftmax",
        layer: "(removed)",
        conditions: "only after the logits, as the graph's last op",
    },
];

/// Ops that are not max-affine spline operators, with the reason.
pub const NOT_PIECEWISE_AFFINE: &[(&str, &str)] = &[
    ("Sigmoid", "the logistic function is smooth and nonlinear"),
    ("Tanh", "tanh is smooth and nonlinear"),
    (
        "Softmax",
        "softmax inside the network is smooth and nonlinear",
    ),
    (
        "LogSoftmax",
        "log-softmax inside the network is smooth and nonlinear",
    ),
    ("Gelu", "GELU is smooth and nonlinear"),
    (
        "Erf",
        "erf (as in a decomposed GELU) is smooth and nonlinear",
    ),
    ("Elu", "ELU is exponential for negative inputs"),
    ("Selu", "SELU is exponential for negative inputs"),
    ("Celu", "CELU is exponential for negative inputs"),
    ("Softplus", "softplus is smooth and nonlinear"),
    ("Softsign", "softsign is smooth and nonlinear"),
    ("Mish", "Mish is smooth and nonlinear"),
    (
        "HardSigmoid",
        "hard sigmoid is piecewise affine but not convex",
    ),
    ("HardSwish", "hard swish is piecewise quadratic"),
    (
        "Clip",
        "clipping (ReLU6) is piecewise affine but not convex",
    ),
    ("Exp", "exp is smooth and nonlinear"),
    ("Log", "log is smooth and nonlinear"),
    ("Sqrt", "sqrt is smooth and nonlinear"),
    ("Pow", "powers are nonlinear"),
    ("Mul", "a product of computed tensors is quadratic"),
    ("Div", "a quotient of computed tensors is nonlinear"),
    (
        "PRelu",
        "PReLU with a learned slope is supported only as LeakyRelu with a constant alpha",
    ),
];

/// Looks up an op in [`SUPPORTED_OPS`].
pub fn supported(op_type: &str) -> Option<&'static SupportedOp> {
    SUPPORTED_OPS.iter().find(|op| op.op_type == op_type)
}

/// Returns why `op_type` is not a max-affine spline operator, if it is a known such op.
pub fn not_piecewise_affine(op_type: &str) -> Option<&'static str> {
    NOT_PIECEWISE_AFFINE
        .iter()
        .find(|(op, _)| *op == op_type)
        .map(|(_, reason)| *reason)
}

/// Lists the supported op types, comma separated.
pub fn supported_list() -> String {
    SUPPORTED_OPS
        .iter()
        .map(|op| op.op_type)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Formats the supported-op table as aligned text, for `maso import --help`.
pub fn supported_table() -> String {
    let width = SUPPORTED_OPS
        .iter()
        .map(|op| op.op_type.len())
        .max()
        .unwrap_or(0);
    let mut table = String::new();
    for op in SUPPORTED_OPS {
        table.push_str(&format!("  {:width$}  -> {}", op.op_type, op.layer));
        if !op.conditions.is_empty() {
            table.push_str(&format!("; {}", op.conditions));
        }
        table.push('\n');
    }
    table
}
