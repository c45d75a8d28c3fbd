//! Conversion of ONNX nodes into MASO layers, walking the graph from its input to its output.
//!
//! The graph must be a chain of layers in which a value may fork into two paths that meet
//! again at an `Add`: a residual block. Each path is converted by the same walk.

use super::graph::Graph;
use super::ops;
use crate::weights::{HostTensor, LayerWeights};
use crate::{ImportError, Result};
use maso::{FeatureShape, LayerConfig};
use std::collections::HashSet;

/// The layers of a chain, with their weights.
#[derive(Debug, Default)]
pub(crate) struct Chain {
    pub configs: Vec<LayerConfig>,
    pub weights: Vec<LayerWeights>,
}

impl Chain {
    fn push(&mut self, config: LayerConfig, weights: LayerWeights) {
        self.configs.push(config);
        self.weights.push(weights);
    }
}

/// The shape of a value: one example's features, and whether the tensor is `[N, features]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ValueShape {
    pub features: FeatureShape,
    pub flat: bool,
}

impl ValueShape {
    fn flat(features: usize) -> Self {
        Self {
            features: FeatureShape::flat(features),
            flat: true,
        }
    }

    fn image(features: FeatureShape) -> Self {
        Self {
            features,
            flat: false,
        }
    }
}

/// The end of a walk along a path.
enum End {
    /// At the graph's output value.
    Output,
    /// At the `Add` node of this index; `from` is the value that reached it.
    Add { index: usize, from: String },
}

pub(crate) struct Converter<'g, 'a> {
    graph: &'g Graph<'a>,
    output: String,
    visited: HashSet<usize>,
    pub notices: Vec<String>,
}

impl<'g, 'a> Converter<'g, 'a> {
    pub fn new(graph: &'g Graph<'a>, output: String) -> Self {
        Self {
            graph,
            output,
            visited: HashSet::new(),
            notices: Vec::new(),
        }
    }

    /// Converts the graph from `input` to its output.
    pub fn convert(&mut self, input: &str, shape: ValueShape) -> Result<Chain> {
        let mut chain = Chain::default();
        let (end, _) = self.walk(input.to_string(), shape, &mut chain)?;
        if let End::Add { index, .. } = end {
            return Err(ImportError::Structure {
                node: self.graph.node_ref(index),
                detail: "only one of its inputs comes from the network's input path; an Add of \
                         a constant is supported only as the bias of a MatMul"
                    .into(),
            });
        }
        let unvisited = (0..self.graph.nodes.len())
            .find(|index| !self.visited.contains(index) && !self.graph.is_constant_node(*index));
        if let Some(index) = unvisited {
            return Err(ImportError::Structure {
                node: self.graph.node_ref(index),
                detail: "the node is not on the path from the graph's input to its output \
                         (shape computations such as Shape, Gather and Concat are not \
                         supported; export with `nn.Flatten` or `torch.flatten` instead of \
                         `x.view(x.size(0), -1)`)"
                    .into(),
            });
        }
        Ok(chain)
    }

    fn is_residual_add(&self, index: usize) -> bool {
        let node = &self.graph.nodes[index];
        node.op_type == "Add"
            && node.input.len() == 2
            && node
                .input
                .iter()
                .all(|input| !self.graph.is_constant(input))
    }

    fn walk(
        &mut self,
        mut value: String,
        mut shape: ValueShape,
        chain: &mut Chain,
    ) -> Result<(End, ValueShape)> {
        loop {
            let consumers = self.graph.consumers(&value).to_vec();
            match consumers.as_slice() {
                [] if value == self.output => return Ok((End::Output, shape)),
                [] => {
                    return Err(ImportError::Structure {
                        node: self.producer_ref(&value),
                        detail: format!(
                            "its output `{value}` is neither used nor the graph's output"
                        ),
                    });
                }
                _ if value == self.output => {
                    return Err(ImportError::Structure {
                        node: self.graph.node_ref(consumers[0]),
                        detail: format!(
                            "the graph's output `{value}` is also an input of later nodes"
                        ),
                    });
                }
                [index] if self.is_residual_add(*index) => {
                    return Ok((
                        End::Add {
                            index: *index,
                            from: value,
                        },
                        shape,
                    ));
                }
                [index] => match self.convert_node(*index, shape, chain)? {
                    Some((next, next_shape)) => {
                        value = next;
                        shape = next_shape;
                    }
                    None => return Ok((End::Output, shape)),
                },
                [first, second] => {
                    let (next, next_shape) =
                        self.residual(&value, [*first, *second], shape, chain)?;
                    value = next;
                    shape = next_shape;
                }
                _ => {
                    return Err(ImportError::Structure {
                        node: self.graph.node_ref(consumers[2]),
                        detail: format!(
                            "the value `{value}` feeds {} nodes; only chains and residual \
                             blocks (two paths that meet at an Add) are supported",
                            consumers.len()
                        ),
                    });
                }
            }
        }
    }

    fn producer_ref(&self, value: &str) -> crate::error::NodeRef {
        let index = self
            .graph
            .nodes
            .iter()
            .position(|node| node.output.iter().any(|output| output == value))
            .unwrap_or(0);
        self.graph.node_ref(index)
    }

    /// Converts the two paths that start at `value` and meet at an `Add` into a residual block.
    fn residual(
        &mut self,
        value: &str,
        starts: [usize; 2],
        shape: ValueShape,
        chain: &mut Chain,
    ) -> Result<(String, ValueShape)> {
        let mut paths = Vec::with_capacity(2);
        for start in starts {
            let mut path = Chain::default();
            let (end, end_shape) = if self.is_residual_add(start) {
                (
                    End::Add {
                        index: start,
                        from: value.to_string(),
                    },
                    shape,
                )
            } else {
                match self.convert_node(start, shape, &mut path)? {
                    Some((next, next_shape)) => self.walk(next, next_shape, &mut path)?,
                    None => (End::Output, shape),
                }
            };
            paths.push((end, end_shape, path));
        }

        let (second_end, second_shape, second) = paths.pop().expect("two paths");
        let (first_end, first_shape, first) = paths.pop().expect("two paths");
        let (add, first_from, second_from) = match (first_end, second_end) {
            (End::Add { index: a, from: fa }, End::Add { index: b, from: fb }) if a == b => {
                (a, fa, fb)
            }
            _ => {
                return Err(ImportError::Structure {
                    node: self.graph.node_ref(starts[1]),
                    detail: format!("the two paths that start at `{value}` do not meet at one Add"),
                });
            }
        };
        if first_shape.features != second_shape.features {
            return Err(ImportError::Structure {
                node: self.graph.node_ref(add),
                detail: format!(
                    "its inputs have different shapes, {} and {}; broadcasting additions are \
                     not supported",
                    first_shape.features, second_shape.features
                ),
            });
        }
        self.visited.insert(add);

        // The skip path is the empty one, else the Add's first input, as in
        // `skip(x) + body(x)`. The sum is the same either way.
        let add_node = &self.graph.nodes[add];
        let first_is_skip = first.configs.is_empty()
            || (!second.configs.is_empty() && add_node.input[0] == first_from);
        debug_assert!(
            add_node.input.contains(&first_from) && add_node.input.contains(&second_from)
        );
        let (skip, body) = if first_is_skip {
            (first, second)
        } else {
            (second, first)
        };
        chain.push(
            LayerConfig::Residual {
                body: body.configs,
                skip: skip.configs,
            },
            LayerWeights::Residual {
                body: body.weights,
                skip: skip.weights,
            },
        );
        let output = add_node.output[0].clone();
        Ok((output, first_shape))
    }

    /// Converts one node whose data input has shape `shape`, appending its layer (if any) to
    /// `chain`. Returns the node's output value and shape, or `None` for a trailing softmax
    /// that was dropped.
    fn convert_node(
        &mut self,
        index: usize,
        shape: ValueShape,
        chain: &mut Chain,
    ) -> Result<Option<(String, ValueShape)>> {
        self.visited.insert(index);
        let node = &self.graph.nodes[index];
        let op = node.op_type.as_str();
        let output = node.output.first().cloned().unwrap_or_default();
        let standard_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        if !standard_domain || ops::supported(op).is_none() {
            return Err(self.rejection(index));
        }
        if node
            .input
            .first()
            .is_some_and(|input| self.graph.is_constant(input))
        {
            return Err(ImportError::Structure {
                node: self.graph.node_ref(index),
                detail: "its first input is a constant, but it consumes a computed value".into(),
            });
        }

        let next_shape = match op {
            "Gemm" => self.gemm(index, shape, chain)?,
            "MatMul" => {
                let (shape, output) = self.matmul(index, shape, chain)?;
                return Ok(Some((output, shape)));
            }
            "Conv" => self.conv(index, shape, chain)?,
            "Relu" => {
                chain.push(LayerConfig::Relu, LayerWeights::None);
                shape
            }
            "LeakyRelu" => {
                let slope = f64::from(self.graph.float_attribute(index, "alpha", 0.01));
                if !(0.0..1.0).contains(&slope) {
                    return Err(ImportError::NotPiecewiseAffine {
                        node: self.graph.node_ref(index),
                        reason: format!(
                            "leaky ReLU with alpha = {slope} is not convex; only 0 <= alpha < 1 is"
                        ),
                    });
                }
                chain.push(LayerConfig::LeakyRelu { slope }, LayerWeights::None);
                shape
            }
            "Abs" => {
                chain.push(LayerConfig::Abs, LayerWeights::None);
                shape
            }
            "MaxPool" | "AveragePool" => self.pool(index, shape, chain)?,
            "GlobalAveragePool" => self.global_average(index, shape, chain)?,
            "ReduceMean" => {
                let axes = match self.graph.ints_attribute(index, "axes") {
                    Some(axes) => axes,
                    None => self.graph.int_input(index, 1)?,
                };
                let mut axes: Vec<i64> = axes
                    .iter()
                    .map(|&axis| if axis < 0 { axis + 4 } else { axis })
                    .collect();
                axes.sort_unstable();
                if axes != [2, 3] || shape.flat {
                    return Err(self.attribute_error(
                        index,
                        "axes",
                        format!("{axes:?}"),
                        "only the mean over the plane (axes 2 and 3 of [N, C, H, W]) is supported",
                    ));
                }
                self.global_average(index, shape, chain)?
            }
            "BatchNormalization" => self.batch_norm(index, shape, chain)?,
            "Flatten" => {
                let axis = self.graph.int_attribute(index, "axis", 1);
                if axis != 1 {
                    return Err(self.attribute_error(
                        index,
                        "axis",
                        axis,
                        "only axis = 1 (flatten each example) is supported",
                    ));
                }
                self.flatten(shape, chain)
            }
            "Reshape" => self.reshape(index, shape, chain)?,
            "Dropout" => {
                self.check_unused_outputs(index, 1)?;
                if node.input.len() > 2 && !node.input[2].is_empty() {
                    let training = self.graph.int_input(index, 2).unwrap_or_default();
                    if training.first().is_some_and(|&flag| flag != 0) {
                        return Err(self.attribute_error(
                            index,
                            "training_mode",
                            1,
                            "export the model in eval mode (`model.eval()`)",
                        ));
                    }
                }
                shape
            }
            "Identity" => shape,
            "Softmax" | "LogSoftmax"
                if output == self.output && self.graph.consumers(&output).is_empty() =>
            {
                let notice = format!(
                    "dropped the trailing {op} node `{}`: the spline view analyzes the logits \
                     before it",
                    node.name
                );
                tracing::info!("{notice}");
                self.notices.push(notice);
                return Ok(None);
            }
            _ => return Err(self.rejection(index)),
        };
        Ok(Some((output, next_shape)))
    }

    /// Builds the error for a node that cannot be converted: not piecewise affine, or unsupported.
    fn rejection(&self, index: usize) -> ImportError {
        let node = &self.graph.nodes[index];
        let with_constant = node.input.iter().any(|input| self.graph.is_constant(input));
        if let Some(reason) = ops::not_piecewise_affine(&node.op_type) {
            // A product with a constant is affine, only not implemented.
            let affine_product = matches!(node.op_type.as_str(), "Mul" | "Div") && with_constant;
            if !affine_product {
                return ImportError::NotPiecewiseAffine {
                    node: self.graph.node_ref(index),
                    reason: reason.into(),
                };
            }
        }
        if with_constant && matches!(node.op_type.as_str(), "Sub" | "Mul" | "Div") {
            return ImportError::UnsupportedAttribute {
                node: Box::new(self.graph.node_ref(index)),
                attribute: "operand".into(),
                value: "a constant".into(),
                reason: "elementwise affine ops with constants are not supported. If the op \
                         normalizes the input, remove it from the model's forward() and pass \
                         --normalization standard:MEAN,STD instead"
                    .into(),
            };
        }
        ImportError::UnsupportedOp {
            node: self.graph.node_ref(index),
            supported: ops::supported_list(),
        }
    }

    fn attribute_error(
        &self,
        index: usize,
        attribute: &str,
        value: impl ToString,
        reason: &str,
    ) -> ImportError {
        ImportError::UnsupportedAttribute {
            node: Box::new(self.graph.node_ref(index)),
            attribute: attribute.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Fails when an output after the first (indices, statistics, masks) is used.
    fn check_unused_outputs(&self, index: usize, first_optional: usize) -> Result<()> {
        let node = &self.graph.nodes[index];
        for (slot, output) in node.output.iter().enumerate().skip(first_optional) {
            if !output.is_empty()
                && (!self.graph.consumers(output).is_empty() || *output == self.output)
            {
                return Err(self.attribute_error(
                    index,
                    &format!("output {slot}"),
                    format!("`{output}`"),
                    "only the first output of this op can be used by the network",
                ));
            }
        }
        Ok(())
    }

    fn gemm(&mut self, index: usize, shape: ValueShape, chain: &mut Chain) -> Result<ValueShape> {
        if self.graph.int_attribute(index, "transA", 0) != 0 {
            return Err(self.attribute_error(index, "transA", 1, "the input cannot be transposed"));
        }
        let alpha = self.graph.float_attribute(index, "alpha", 1.0);
        let beta = self.graph.float_attribute(index, "beta", 1.0);
        let matrix = self.graph.float_input(index, 1)?;
        let transposed = self.graph.int_attribute(index, "transB", 0) != 0;
        let mut weight = if transposed {
            check_rank(&matrix, 2)?;
            matrix
        } else {
            transpose(&matrix)?
        };
        weight.values.iter_mut().for_each(|value| *value *= alpha);
        let [out_features, in_features] = [weight.shape[0], weight.shape[1]];
        self.check_features(index, shape, in_features)?;

        let bias = match self.graph.optional_float_input(index, 2)? {
            Some(mut bias) => {
                bias = broadcast_bias(bias, out_features)?;
                bias.values.iter_mut().for_each(|value| *value *= beta);
                Some(bias)
            }
            None => None,
        };
        chain.push(
            LayerConfig::Linear {
                out_features,
                bias: bias.is_some(),
            },
            LayerWeights::Linear { weight, bias },
        );
        Ok(ValueShape::flat(out_features))
    }

    fn matmul(
        &mut self,
        index: usize,
        shape: ValueShape,
        chain: &mut Chain,
    ) -> Result<(ValueShape, String)> {
        let matrix = self.graph.float_input(index, 1)?;
        let weight = transpose(&matrix)?;
        let [out_features, in_features] = [weight.shape[0], weight.shape[1]];
        self.check_features(index, shape, in_features)?;
        let mut output = self.graph.nodes[index].output[0].clone();

        // `MatMul` then `Add` of a constant vector is a fully connected layer with bias.
        let mut bias = None;
        if let [next] = self.graph.consumers(&output) {
            let add = &self.graph.nodes[*next];
            let constant = add
                .input
                .iter()
                .position(|input| self.graph.is_constant(input));
            let bias_add = add.op_type == "Add" && add.input.len() == 2 && output != self.output;
            if let (true, Some(slot)) = (bias_add, constant) {
                bias = Some(broadcast_bias(
                    self.graph.float_input(*next, slot)?,
                    out_features,
                )?);
                self.visited.insert(*next);
                output = add.output[0].clone();
            }
        }
        chain.push(
            LayerConfig::Linear {
                out_features,
                bias: bias.is_some(),
            },
            LayerWeights::Linear { weight, bias },
        );
        Ok((ValueShape::flat(out_features), output))
    }

    fn check_features(&self, index: usize, shape: ValueShape, in_features: usize) -> Result<()> {
        if shape.features.numel() != in_features {
            return Err(ImportError::Structure {
                node: self.graph.node_ref(index),
                detail: format!(
                    "its weight takes {in_features} input features but its input has shape {} \
                     ({} features)",
                    shape.features,
                    shape.features.numel()
                ),
            });
        }
        Ok(())
    }

    /// Reads a 2-D window attribute (`kernel_shape`, `strides`, `dilations`) with a default.
    fn window_attribute(
        &self,
        index: usize,
        name: &str,
        default: [usize; 2],
    ) -> Result<[usize; 2]> {
        match self.graph.ints_attribute(index, name) {
            None => Ok(default),
            Some(values) => match values.as_slice() {
                [a, b] if *a > 0 && *b > 0 => Ok([*a as usize, *b as usize]),
                _ => Err(self.attribute_error(
                    index,
                    name,
                    format!("{values:?}"),
                    "only 2-D windows with positive sizes are supported",
                )),
            },
        }
    }

    /// Reads `pads` ([top, left, bottom, right]) and `auto_pad`; padding must be symmetric.
    fn padding(&self, index: usize) -> Result<[usize; 2]> {
        let auto_pad = self
            .graph
            .string_attribute(index, "auto_pad")
            .unwrap_or_else(|| "NOTSET".into());
        match auto_pad.as_str() {
            "NOTSET" => {}
            "VALID" => return Ok([0, 0]),
            other => {
                return Err(self.attribute_error(
                    index,
                    "auto_pad",
                    other,
                    "only NOTSET (explicit pads) and VALID are supported; export with explicit \
                     padding",
                ));
            }
        }
        let pads = self
            .graph
            .ints_attribute(index, "pads")
            .unwrap_or(vec![0; 4]);
        match pads.as_slice() {
            [top, left, bottom, right]
                if top == bottom && left == right && *top >= 0 && *left >= 0 =>
            {
                Ok([*top as usize, *left as usize])
            }
            _ => Err(self.attribute_error(
                index,
                "pads",
                format!("{pads:?}"),
                "only symmetric 2-D padding (top = bottom, left = right) is supported",
            )),
        }
    }

    fn image_shape(&self, index: usize, shape: ValueShape) -> Result<FeatureShape> {
        if shape.flat {
            return Err(ImportError::Structure {
                node: self.graph.node_ref(index),
                detail: format!(
                    "it needs a [N, C, H, W] input but receives flat features of shape {}",
                    shape.features
                ),
            });
        }
        Ok(shape.features)
    }

    fn conv(&mut self, index: usize, shape: ValueShape, chain: &mut Chain) -> Result<ValueShape> {
        let input = self.image_shape(index, shape)?;
        let weight = self.graph.float_input(index, 1)?;
        check_rank(&weight, 4)?;
        let group = self.graph.int_attribute(index, "group", 1);
        if group != 1 {
            return Err(self.attribute_error(
                index,
                "group",
                group,
                "grouped and depthwise convolutions are not supported",
            ));
        }
        let [out_channels, in_channels, kh, kw] = [
            weight.shape[0],
            weight.shape[1],
            weight.shape[2],
            weight.shape[3],
        ];
        if in_channels != input.channels {
            return Err(ImportError::Structure {
                node: self.graph.node_ref(index),
                detail: format!(
                    "its weight expects {in_channels} input channels but its input has shape {input}"
                ),
            });
        }

        let kernel = self.window_attribute(index, "kernel_shape", [kh, kw])?;
        if kernel != [kh, kw] {
            return Err(self.attribute_error(
                index,
                "kernel_shape",
                format!("{kernel:?}"),
                "differs from the weight's kernel",
            ));
        }
        let stride = self.window_attribute(index, "strides", [1, 1])?;
        let dilation = self.window_attribute(index, "dilations", [1, 1])?;
        let padding = self.padding(index)?;

        let bias = self.graph.optional_float_input(index, 2)?;
        if let Some(bias) = &bias {
            bias.expect_shape(&[out_channels])?;
        }
        let [height, width] = window_output(index, self, input, kernel, stride, padding, dilation)?;
        chain.push(
            LayerConfig::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                dilation,
                bias: bias.is_some(),
            },
            LayerWeights::Conv2d { weight, bias },
        );
        Ok(ValueShape::image(FeatureShape::new(
            out_channels,
            height,
            width,
        )))
    }

    fn pool(&mut self, index: usize, shape: ValueShape, chain: &mut Chain) -> Result<ValueShape> {
        let input = self.image_shape(index, shape)?;
        let op = self.graph.nodes[index].op_type.clone();
        let kernel = match self.graph.ints_attribute(index, "kernel_shape") {
            Some(_) => self.window_attribute(index, "kernel_shape", [1, 1])?,
            None => {
                return Err(self.attribute_error(
                    index,
                    "kernel_shape",
                    "<missing>",
                    "the attribute is required",
                ));
            }
        };
        let stride = self.window_attribute(index, "strides", [1, 1])?;
        let dilation = self.window_attribute(index, "dilations", [1, 1])?;
        if dilation != [1, 1] {
            return Err(self.attribute_error(
                index,
                "dilations",
                format!("{dilation:?}"),
                "dilated pooling is not supported",
            ));
        }
        let padding = self.padding(index)?;

        let [height, width] = window_output(index, self, input, kernel, stride, padding, [1, 1])?;
        if self.graph.int_attribute(index, "ceil_mode", 0) != 0 {
            let ceil =
                |size: usize, k: usize, s: usize, p: usize| (size + 2 * p - k).div_ceil(s) + 1;
            let same = ceil(input.height, kernel[0], stride[0], padding[0]) == height
                && ceil(input.width, kernel[1], stride[1], padding[1]) == width;
            if !same {
                return Err(self.attribute_error(
                    index,
                    "ceil_mode",
                    1,
                    "rounding the output size up adds windows here; export with ceil_mode=False",
                ));
            }
        }
        self.check_unused_outputs(index, 1)?;

        let config = if op == "MaxPool" {
            LayerConfig::MaxPool2d {
                kernel,
                stride,
                padding,
            }
        } else {
            let include_pad = self.graph.int_attribute(index, "count_include_pad", 0);
            if padding != [0, 0] && include_pad == 0 {
                return Err(self.attribute_error(
                    index,
                    "count_include_pad",
                    0,
                    "padded average pooling is supported only with the padding counted in the \
                     average (PyTorch's default count_include_pad=True)",
                ));
            }
            LayerConfig::AvgPool2d {
                kernel,
                stride,
                padding,
            }
        };
        chain.push(config, LayerWeights::None);
        Ok(ValueShape::image(FeatureShape::new(
            input.channels,
            height,
            width,
        )))
    }

    fn global_average(
        &mut self,
        index: usize,
        shape: ValueShape,
        chain: &mut Chain,
    ) -> Result<ValueShape> {
        let input = self.image_shape(index, shape)?;
        chain.push(LayerConfig::GlobalAvgPool, LayerWeights::None);
        // ONNX keeps the [N, C, 1, 1] layout, which is the same memory as maso's flat [N, C].
        Ok(ValueShape::image(FeatureShape::flat(input.channels)))
    }

    fn batch_norm(
        &mut self,
        index: usize,
        shape: ValueShape,
        chain: &mut Chain,
    ) -> Result<ValueShape> {
        if self.graph.int_attribute(index, "training_mode", 0) != 0 {
            return Err(self.attribute_error(
                index,
                "training_mode",
                1,
                "export the model in eval mode (`model.eval()`)",
            ));
        }
        self.check_unused_outputs(index, 1)?;
        // The dynamo exporter writes a training-mode batch norm as an inference node whose
        // name keeps PyTorch's `_native_batch_norm_legit_functional`; eval mode gives
        // `..._no_training`. The name is the only trace, so this is a heuristic warning.
        let name = &self.graph.nodes[index].name;
        if name.contains("legit_functional") {
            let notice = format!(
                "BatchNormalization node `{name}` looks exported in training mode; import uses \
                 its running statistics, as eval mode does. Export after `model.eval()` to be sure"
            );
            tracing::warn!("{notice}");
            self.notices.push(notice);
        }

        let channels = shape.features.channels;
        let mut tensors = Vec::with_capacity(4);
        for slot in 1..=4 {
            let tensor = self.graph.float_input(index, slot)?;
            tensor.expect_shape(&[channels])?;
            tensors.push(tensor);
        }
        let var = tensors.pop().expect("four tensors");
        let mean = tensors.pop().expect("four tensors");
        let beta = tensors.pop().expect("four tensors");
        let gamma = tensors.pop().expect("four tensors");
        let epsilon = f64::from(self.graph.float_attribute(index, "epsilon", 1e-5));
        // ONNX's momentum weighs the old running value, PyTorch's (and maso's) the new one.
        let momentum = 1.0 - f64::from(self.graph.float_attribute(index, "momentum", 0.9));
        chain.push(
            LayerConfig::BatchNorm {
                epsilon,
                momentum: momentum.clamp(0.0, 1.0),
            },
            LayerWeights::BatchNorm {
                gamma,
                beta,
                mean,
                var,
            },
        );
        Ok(shape)
    }

    fn flatten(&mut self, shape: ValueShape, chain: &mut Chain) -> ValueShape {
        // A [N, C, 1, 1] or flat value is already laid out as maso's flat features.
        if shape.features.plane() > 1 {
            chain.push(LayerConfig::Flatten, LayerWeights::None);
        }
        ValueShape::flat(shape.features.numel())
    }

    fn reshape(
        &mut self,
        index: usize,
        shape: ValueShape,
        chain: &mut Chain,
    ) -> Result<ValueShape> {
        let target = self.graph.int_input(index, 1)?;
        let features = shape.features.numel() as i64;
        let flattens = match target.as_slice() {
            [batch, size] => {
                (*size == features || *size == -1)
                    && (*batch >= -1)
                    && !(*batch == -1 && *size == -1)
            }
            _ => false,
        };
        if !flattens {
            return Err(self.attribute_error(
                index,
                "shape",
                format!("{target:?}"),
                &format!(
                    "only a reshape that flattens each example ([N, {features}], [-1, {features}] \
                     or [0, -1]) is supported"
                ),
            ));
        }
        Ok(self.flatten(shape, chain))
    }
}

fn window_output(
    index: usize,
    converter: &Converter,
    input: FeatureShape,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
) -> Result<[usize; 2]> {
    let mut output = [0; 2];
    for (axis, size) in [input.height, input.width].into_iter().enumerate() {
        let span = dilation[axis] * (kernel[axis] - 1) + 1;
        let padded = size + 2 * padding[axis];
        if padded < span {
            return Err(ImportError::Structure {
                node: converter.graph.node_ref(index),
                detail: format!("its window {kernel:?} does not fit the padded input {input}"),
            });
        }
        output[axis] = (padded - span) / stride[axis] + 1;
    }
    Ok(output)
}

fn check_rank(tensor: &HostTensor, rank: usize) -> Result<()> {
    if tensor.shape.len() != rank {
        return Err(ImportError::Tensor {
            name: tensor.name.clone(),
            detail: format!(
                "expected a rank-{rank} tensor, found shape {:?}",
                tensor.shape
            ),
        });
    }
    Ok(())
}

/// Transposes a `[rows, cols]` matrix.
fn transpose(matrix: &HostTensor) -> Result<HostTensor> {
    check_rank(matrix, 2)?;
    let [rows, cols] = [matrix.shape[0], matrix.shape[1]];
    let mut values = vec![0.0; rows * cols];
    for row in 0..rows {
        for col in 0..cols {
            values[col * rows + row] = matrix.values[row * cols + col];
        }
    }
    Ok(HostTensor {
        name: matrix.name.clone(),
        shape: vec![cols, rows],
        values,
    })
}

/// Turns a bias of shape `[out]`, `[1, out]` or a scalar into a `[out]` vector.
fn broadcast_bias(bias: HostTensor, out_features: usize) -> Result<HostTensor> {
    let count = bias.values.len();
    let values = if count == out_features {
        bias.values
    } else if count == 1 {
        vec![bias.values[0]; out_features]
    } else {
        return Err(ImportError::Tensor {
            name: bias.name,
            detail: format!(
                "a bias of shape {:?} does not broadcast to {out_features} outputs",
                bias.shape
            ),
        });
    };
    Ok(HostTensor {
        name: bias.name,
        shape: vec![out_features],
        values,
    })
}
