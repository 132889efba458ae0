//! Neural-network ops: convolution, pooling, normalization, softmax, matmul.

use serde::{Deserialize, Serialize};

use super::unary::infer_unary;
use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::element::ElementType;
use crate::error::Result;
use crate::invalid;
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

/// How convolution and pooling pads are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PadType {
    /// `pads_begin` / `pads_end` as given.
    #[default]
    Explicit,
    /// Output = ceil(input / stride); extra padding at the end.
    SameUpper,
    /// Output = ceil(input / stride); extra padding at the beginning.
    SameLower,
    /// No padding.
    Valid,
    /// Same as `same_upper` (legacy spelling).
    Auto,
    /// Legacy spelling of explicit.
    Notset,
}

/// How a fractional pooling output size is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RoundingType {
    /// Round down.
    #[default]
    Floor,
    /// Round up, keeping a last window that starts in the end padding (OpenVINO's `ceil`:
    /// input 4, kernel 1, stride 2, end pad 1 gives 3 outputs).
    Ceil,
    /// Round up, dropping a last window that would start in the end padding (opset14
    /// `ceil_torch`; ONNX's and PyTorch's `ceil_mode`: the same case gives 2 outputs).
    CeilTorch,
}

/// Pads actually applied on one spatial axis, after resolving `auto_pad`.
pub fn resolve_pads(
    auto_pad: PadType,
    input: u64,
    kernel: u64,
    stride: u64,
    dilation: u64,
    pads: (u64, u64),
) -> (u64, u64) {
    let eff = (kernel.saturating_sub(1)) * dilation + 1;
    match auto_pad {
        PadType::Explicit | PadType::Notset => pads,
        PadType::Valid => (0, 0),
        PadType::SameUpper | PadType::SameLower | PadType::Auto => {
            let out = input.div_ceil(stride.max(1));
            let total = ((out.saturating_sub(1)) * stride + eff).saturating_sub(input);
            let small = total / 2;
            if auto_pad == PadType::SameLower { (total - small, small) } else { (small, total - small) }
        }
    }
}

/// Output size of one spatial axis of a sliding window.
pub fn window_output(
    input: u64,
    kernel: u64,
    stride: u64,
    dilation: u64,
    pads: (u64, u64),
    rounding: RoundingType,
) -> Result<u64> {
    let eff = (kernel.saturating_sub(1)) * dilation + 1;
    let padded = input + pads.0 + pads.1;
    if padded < eff {
        return Err(invalid!("window of extent {eff} does not fit padded input of size {padded}"));
    }
    let stride = stride.max(1);
    let span = padded - eff;
    let mut out = match rounding {
        RoundingType::Floor => span / stride + 1,
        RoundingType::Ceil | RoundingType::CeilTorch => span.div_ceil(stride) + 1,
    };
    // ceil_torch: a window must start inside the input or its begin padding.
    if rounding == RoundingType::CeilTorch && out > 1 && (out - 1) * stride >= input + pads.0 {
        out -= 1;
    }
    Ok(out)
}

struct Window<'a> {
    strides: &'a [i64],
    dilations: Option<&'a [i64]>,
    pads_begin: &'a [i64],
    pads_end: &'a [i64],
    auto_pad: PadType,
    rounding: RoundingType,
}

fn to_u64(v: &[i64], what: &str) -> Result<Vec<u64>> {
    v.iter().map(|&x| u64::try_from(x).map_err(|_| invalid!("negative {what} value {x}"))).collect()
}

/// Spatial output dims for sliding windows over `spatial` with static `kernel`.
fn spatial_out(spatial: &[Dim], kernel: &[u64], w: &Window<'_>) -> Result<Vec<Dim>> {
    let n = spatial.len();
    let strides = to_u64(w.strides, "stride")?;
    let dil = match w.dilations {
        Some(d) => to_u64(d, "dilation")?,
        None => vec![1; n],
    };
    let explicit = matches!(w.auto_pad, PadType::Explicit | PadType::Notset);
    let pb = if explicit { to_u64(w.pads_begin, "pad")? } else { vec![0; n] };
    let pe = if explicit { to_u64(w.pads_end, "pad")? } else { vec![0; n] };
    if kernel.len() != n || strides.len() != n || dil.len() != n || pb.len() != n || pe.len() != n {
        return Err(invalid!(
            "window attributes have ranks kernel {} strides {} dilations {} pads {}/{} for {n} spatial dims",
            kernel.len(),
            strides.len(),
            dil.len(),
            pb.len(),
            pe.len()
        ));
    }
    if strides.contains(&0) || dil.contains(&0) {
        return Err(invalid!("strides and dilations must be positive"));
    }
    (0..n)
        .map(|i| match spatial[i].get() {
            Some(input) => {
                let pads = resolve_pads(w.auto_pad, input, kernel[i], strides[i], dil[i], (pb[i], pe[i]));
                window_output(input, kernel[i], strides[i], dil[i], pads, w.rounding).map(Dim::fixed)
            }
            None => Ok(Dim::DYNAMIC),
        })
        .collect()
}

fn ranked<'a>(s: &'a PartialShape, what: &str) -> Result<Option<&'a [Dim]>> {
    let _ = what;
    Ok(s.dims())
}

fn same_float(inputs: &[InferInput<'_>]) -> Result<ElementType> {
    let mut et = ElementType::Dynamic;
    for i in inputs {
        et = et.merge(i.element_type).ok_or_else(|| invalid!("input element types differ"))?;
    }
    Ok(et)
}

/// N-d convolution (`Convolution`, opset1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Convolution {
    /// Step per spatial axis.
    pub strides: Vec<i64>,
    /// Kernel dilation per spatial axis.
    pub dilations: Vec<i64>,
    /// Padding before each spatial axis.
    pub pads_begin: Vec<i64>,
    /// Padding after each spatial axis.
    pub pads_end: Vec<i64>,
    /// Padding rule.
    #[serde(default)]
    pub auto_pad: PadType,
}

fn infer_conv(
    inputs: &[InferInput<'_>],
    strides: &[i64],
    dilations: &[i64],
    pads: (&[i64], &[i64]),
    auto_pad: PadType,
    grouped: bool,
) -> Result<Vec<OutputType>> {
    expect_inputs(inputs, 2, 2)?;
    let et = same_float(inputs)?;
    let (Some(x), Some(w)) = (ranked(inputs[0].shape, "data")?, ranked(inputs[1].shape, "filter")?) else {
        return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]);
    };
    let wk = if grouped { 3 } else { 2 };
    if x.len() < 3 || w.len() != x.len() + usize::from(grouped) {
        return Err(invalid!("data rank {} and filter rank {} do not match", x.len(), w.len()));
    }
    let c_out = if grouped { w[0].mul(w[1]) } else { w[0] };
    let (cin_w, groups) = if grouped { (w[2], w[0]) } else { (w[1], Dim::fixed(1)) };
    if let (Some(c), Some(cw)) = (x[1].get(), cin_w.mul(groups).get())
        && c != cw
    {
        return Err(invalid!("data has {c} channels, filter expects {cw}"));
    }
    let kernel: Option<Vec<u64>> = w[wk..].iter().map(|d| d.get()).collect();
    let spatial = match kernel {
        Some(k) => spatial_out(
            &x[2..],
            &k,
            &Window {
                strides,
                dilations: Some(dilations),
                pads_begin: pads.0,
                pads_end: pads.1,
                auto_pad,
                rounding: RoundingType::Floor,
            },
        )?,
        None => vec![Dim::DYNAMIC; x.len() - 2],
    };
    let mut dims = vec![x[0], c_out];
    dims.extend(spatial);
    Ok(vec![OutputType::new(et, PartialShape::Ranked(dims))])
}

impl OpSpec for Convolution {
    const TYPE: &'static str = "Convolution";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_conv(inputs, &self.strides, &self.dilations, (&self.pads_begin, &self.pads_end), self.auto_pad, false)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let w = crate::eval::nn::WindowAttrs {
            strides: &self.strides,
            dilations: &self.dilations,
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            rounding: RoundingType::Floor,
        };
        crate::eval::nn::convolution(Self::TYPE, inputs, false, &w)
    }
}

/// Grouped convolution; filter shape `[G, C_out/G, C_in/G, k...]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupConvolution {
    /// Step per spatial axis.
    pub strides: Vec<i64>,
    /// Padding before each spatial axis.
    pub pads_begin: Vec<i64>,
    /// Padding after each spatial axis.
    pub pads_end: Vec<i64>,
    /// Kernel dilation per spatial axis.
    pub dilations: Vec<i64>,
    /// Padding rule.
    #[serde(default)]
    pub auto_pad: PadType,
}

impl OpSpec for GroupConvolution {
    const TYPE: &'static str = "GroupConvolution";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_conv(inputs, &self.strides, &self.dilations, (&self.pads_begin, &self.pads_end), self.auto_pad, true)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let w = crate::eval::nn::WindowAttrs {
            strides: &self.strides,
            dilations: &self.dilations,
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            rounding: RoundingType::Floor,
        };
        crate::eval::nn::convolution(Self::TYPE, inputs, true, &w)
    }
}

fn infer_pool(
    inputs: &[InferInput<'_>],
    kernel: &[i64],
    w: &Window<'_>,
    extra_index: Option<ElementType>,
) -> Result<Vec<OutputType>> {
    expect_inputs(inputs, 1, 1)?;
    let et = inputs[0].element_type;
    let shape = match inputs[0].shape.dims() {
        None => PartialShape::DynamicRank,
        Some(x) => {
            if x.len() < 3 {
                return Err(invalid!("pooling needs rank >= 3, got {}", x.len()));
            }
            let k = to_u64(kernel, "kernel")?;
            let mut dims = vec![x[0], x[1]];
            dims.extend(spatial_out(&x[2..], &k, w)?);
            PartialShape::Ranked(dims)
        }
    };
    let mut out = vec![OutputType::new(et, shape.clone())];
    if let Some(it) = extra_index {
        out.push(OutputType::new(it, shape));
    }
    Ok(out)
}

/// Max pooling with dilations and an indices output (`MaxPool`, opset8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaxPool8 {
    /// Step per spatial axis.
    pub strides: Vec<i64>,
    /// Window dilation per spatial axis.
    pub dilations: Vec<i64>,
    /// Padding before.
    pub pads_begin: Vec<i64>,
    /// Padding after.
    pub pads_end: Vec<i64>,
    /// Window size.
    pub kernel: Vec<i64>,
    /// Output size rounding.
    #[serde(default)]
    pub rounding_type: RoundingType,
    /// Padding rule.
    #[serde(default)]
    pub auto_pad: PadType,
    /// Type of the indices output.
    #[serde(default = "i64_type")]
    pub index_element_type: ElementType,
    /// First axis counted in flattened indices.
    #[serde(default)]
    pub axis: i64,
}

fn i64_type() -> ElementType {
    ElementType::I64
}

impl OpSpec for MaxPool8 {
    const TYPE: &'static str = "MaxPool";
    const OPSET: u32 = 8;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        let w = Window {
            strides: &self.strides,
            dilations: Some(&self.dilations),
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            rounding: self.rounding_type,
        };
        infer_pool(inputs, &self.kernel, &w, Some(self.index_element_type))
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let w = crate::eval::nn::WindowAttrs {
            strides: &self.strides,
            dilations: &self.dilations,
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            rounding: self.rounding_type,
        };
        crate::eval::nn::max_pool(inputs, &self.kernel, &w, Some((self.index_element_type, self.axis)))
    }
}

/// [`MaxPool8`] that also accepts `ceil_torch` rounding (`MaxPool`, opset14).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaxPool14 {
    /// Step per spatial axis.
    pub strides: Vec<i64>,
    /// Window dilation per spatial axis.
    pub dilations: Vec<i64>,
    /// Padding before.
    pub pads_begin: Vec<i64>,
    /// Padding after.
    pub pads_end: Vec<i64>,
    /// Window size.
    pub kernel: Vec<i64>,
    /// Output size rounding.
    #[serde(default)]
    pub rounding_type: RoundingType,
    /// Padding rule.
    #[serde(default)]
    pub auto_pad: PadType,
    /// Type of the indices output.
    #[serde(default = "i64_type")]
    pub index_element_type: ElementType,
    /// First axis counted in flattened indices.
    #[serde(default)]
    pub axis: i64,
}

impl MaxPool14 {
    /// The same pooling as an opset8 node (whose semantics differ only in the accepted
    /// rounding types).
    pub fn as_v8(&self) -> MaxPool8 {
        MaxPool8 {
            strides: self.strides.clone(),
            dilations: self.dilations.clone(),
            pads_begin: self.pads_begin.clone(),
            pads_end: self.pads_end.clone(),
            kernel: self.kernel.clone(),
            rounding_type: self.rounding_type,
            auto_pad: self.auto_pad,
            index_element_type: self.index_element_type,
            axis: self.axis,
        }
    }
}

impl OpSpec for MaxPool14 {
    const TYPE: &'static str = "MaxPool";
    const OPSET: u32 = 14;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        self.as_v8().infer(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.as_v8().evaluate(inputs)
    }
}

/// Max pooling without dilations or indices (`MaxPool`, opset1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaxPool1 {
    /// Step per spatial axis.
    pub strides: Vec<i64>,
    /// Padding before.
    pub pads_begin: Vec<i64>,
    /// Padding after.
    pub pads_end: Vec<i64>,
    /// Window size.
    pub kernel: Vec<i64>,
    /// Output size rounding.
    #[serde(default)]
    pub rounding_type: RoundingType,
    /// Padding rule.
    #[serde(default)]
    pub auto_pad: PadType,
}

impl OpSpec for MaxPool1 {
    const TYPE: &'static str = "MaxPool";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        let w = Window {
            strides: &self.strides,
            dilations: None,
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            rounding: self.rounding_type,
        };
        infer_pool(inputs, &self.kernel, &w, None)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let w = crate::eval::nn::WindowAttrs {
            strides: &self.strides,
            dilations: &[],
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            rounding: self.rounding_type,
        };
        crate::eval::nn::max_pool(inputs, &self.kernel, &w, None)
    }
}

/// Average pooling (`AvgPool`, opset1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvgPool {
    /// Window size.
    pub kernel: Vec<i64>,
    /// Step per spatial axis.
    pub strides: Vec<i64>,
    /// Padding before.
    pub pads_begin: Vec<i64>,
    /// Padding after.
    pub pads_end: Vec<i64>,
    /// Padded positions do not count in the divisor.
    #[serde(rename = "exclude-pad")]
    pub exclude_pad: bool,
    /// Padding rule.
    #[serde(default)]
    pub auto_pad: PadType,
    /// Output size rounding.
    #[serde(default)]
    pub rounding_type: RoundingType,
}

impl OpSpec for AvgPool {
    const TYPE: &'static str = "AvgPool";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        let w = Window {
            strides: &self.strides,
            dilations: None,
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            rounding: self.rounding_type,
        };
        infer_pool(inputs, &self.kernel, &w, None)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let w = crate::eval::nn::WindowAttrs {
            strides: &self.strides,
            dilations: &[],
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            rounding: self.rounding_type,
        };
        crate::eval::nn::avg_pool(inputs, &self.kernel, &w, self.exclude_pad)
    }
}

/// Average pooling with dilations (`AvgPool`, opset16).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvgPool16 {
    /// Window size.
    pub kernel: Vec<i64>,
    /// Step per spatial axis.
    pub strides: Vec<i64>,
    /// Padding before.
    pub pads_begin: Vec<i64>,
    /// Padding after.
    pub pads_end: Vec<i64>,
    /// Padded positions do not count in the divisor.
    #[serde(rename = "exclude-pad")]
    pub exclude_pad: bool,
    /// Padding rule.
    #[serde(default)]
    pub auto_pad: PadType,
    /// Output size rounding.
    #[serde(default)]
    pub rounding_type: RoundingType,
    /// Window dilation per spatial axis.
    #[serde(default)]
    pub dilations: Vec<i64>,
}

impl OpSpec for AvgPool16 {
    const TYPE: &'static str = "AvgPool";
    const OPSET: u32 = 16;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        let ones = vec![1; self.kernel.len()];
        let w = Window {
            strides: &self.strides,
            dilations: Some(if self.dilations.is_empty() { &ones } else { &self.dilations }),
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            rounding: self.rounding_type,
        };
        infer_pool(inputs, &self.kernel, &w, None)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let w = crate::eval::nn::WindowAttrs {
            strides: &self.strides,
            dilations: &self.dilations,
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            rounding: self.rounding_type,
        };
        crate::eval::nn::avg_pool(inputs, &self.kernel, &w, self.exclude_pad)
    }
}

/// Local response normalization over the axes given by input 1 (`LRN`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lrn {
    /// Scale.
    pub alpha: f64,
    /// Exponent.
    pub beta: f64,
    /// Additive bias.
    pub bias: f64,
    /// Window size along the normalized axes.
    pub size: u64,
}

impl OpSpec for Lrn {
    const TYPE: &'static str = "LRN";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        infer_unary(&inputs[..1])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::nn::lrn(inputs, self.alpha, self.beta, self.bias, self.size)
    }
}

/// Normalizes `axis` into `[0, rank)`.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize> {
    // Strict for rank 0 too: callers index dims by the result, and no op has an axis on a scalar.
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) { Ok(a as usize) } else { Err(invalid!("axis {axis} is out of range for rank {rank}")) }
}

fn check_axis(inputs: &[InferInput<'_>], axis: i64) -> Result<()> {
    if let Some(r) = inputs[0].shape.rank() {
        normalize_axis(axis, r)?;
    }
    Ok(())
}

/// Softmax along `axis`, negative axes allowed (`SoftMax`, opset8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftMax8 {
    /// Normalized axis.
    pub axis: i64,
}

impl OpSpec for SoftMax8 {
    const TYPE: &'static str = "SoftMax";
    const OPSET: u32 = 8;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 1, 1)?;
        check_axis(inputs, self.axis)?;
        infer_unary(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::nn::softmax(Self::TYPE, inputs, self.axis, false)
    }
}

/// Softmax along a non-negative `axis` (`SoftMax`, opset1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftMax1 {
    /// Normalized axis.
    pub axis: u64,
}

impl OpSpec for SoftMax1 {
    const TYPE: &'static str = "SoftMax";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 1, 1)?;
        check_axis(inputs, self.axis as i64)?;
        infer_unary(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let axis = i64::try_from(self.axis).map_err(|_| invalid!("axis {} too large", self.axis))?;
        crate::eval::nn::softmax(Self::TYPE, inputs, axis, false)
    }
}

/// log(softmax(x)) along `axis` (`LogSoftmax`, opset5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogSoftmax {
    /// Normalized axis.
    pub axis: i64,
}

impl OpSpec for LogSoftmax {
    const TYPE: &'static str = "LogSoftmax";
    const OPSET: u32 = 5;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 1, 1)?;
        check_axis(inputs, self.axis)?;
        infer_unary(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::nn::softmax(Self::TYPE, inputs, self.axis, true)
    }
}

/// Inference batch normalization: inputs data, gamma, beta, mean, variance (opset5 order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchNormInference {
    /// Added to the variance.
    pub epsilon: f64,
}

impl OpSpec for BatchNormInference {
    const TYPE: &'static str = "BatchNormInference";
    const OPSET: u32 = 5;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 5, 5)?;
        if let Some(r) = inputs[0].shape.rank()
            && r < 2
        {
            return Err(invalid!("data rank {r} is below 2"));
        }
        infer_unary(&inputs[..1])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::nn::batch_norm(inputs, self.epsilon)
    }
}

/// Batched matrix product with numpy broadcasting of batch dims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MatMul {
    /// Transpose the last two dims of A.
    #[serde(default)]
    pub transpose_a: bool,
    /// Transpose the last two dims of B.
    #[serde(default)]
    pub transpose_b: bool,
}

/// Output shape of MatMul (handles rank-1 operands like numpy).
pub fn matmul_shape(a: &PartialShape, b: &PartialShape, ta: bool, tb: bool) -> Result<PartialShape> {
    let (Some(a), Some(b)) = (a.dims(), b.dims()) else {
        return Ok(PartialShape::DynamicRank);
    };
    if a.is_empty() || b.is_empty() {
        return Err(invalid!("MatMul operands must not be scalars"));
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    let (a1, b1) = (a.len() == 1, b.len() == 1);
    if a1 {
        a.insert(0, Dim::fixed(1));
    } else if ta {
        let n = a.len();
        a.swap(n - 1, n - 2);
    }
    if b1 {
        b.push(Dim::fixed(1));
    } else if tb {
        let n = b.len();
        b.swap(n - 1, n - 2);
    }
    let (m, k1) = (a[a.len() - 2], a[a.len() - 1]);
    let (k2, n) = (b[b.len() - 2], b[b.len() - 1]);
    if k1.merge(k2).is_none() {
        return Err(invalid!("inner dimensions {k1} and {k2} differ"));
    }
    let batch = PartialShape::Ranked(a[..a.len() - 2].to_vec())
        .broadcast(&PartialShape::Ranked(b[..b.len() - 2].to_vec()))
        .ok_or_else(|| invalid!("batch dimensions do not broadcast"))?;
    let mut dims = batch.dims().map(|d| d.to_vec()).unwrap_or_default();
    if !a1 {
        dims.push(m);
    }
    if !b1 {
        dims.push(n);
    }
    Ok(PartialShape::Ranked(dims))
}

impl OpSpec for MatMul {
    const TYPE: &'static str = "MatMul";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        let et = same_float(inputs)?;
        Ok(vec![OutputType::new(
            et,
            matmul_shape(inputs[0].shape, inputs[1].shape, self.transpose_a, self.transpose_b)?,
        )])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::nn::matmul(inputs, self.transpose_a, self.transpose_b)
    }
}

/// Where MVN adds epsilon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum EpsMode {
    /// sqrt(var + eps).
    #[default]
    #[serde(rename = "INSIDE_SQRT", alias = "inside_sqrt")]
    InsideSqrt,
    /// sqrt(var) + eps.
    #[serde(rename = "OUTSIDE_SQRT", alias = "outside_sqrt")]
    OutsideSqrt,
}

/// Mean-variance normalization over the axes of input 1 (`MVN`, opset6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mvn {
    /// Epsilon.
    pub eps: f32,
    /// Also divide by the standard deviation.
    pub normalize_variance: bool,
    /// Where epsilon goes.
    #[serde(default)]
    pub eps_mode: EpsMode,
}

impl OpSpec for Mvn {
    const TYPE: &'static str = "MVN";
    const OPSET: u32 = 6;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        infer_unary(&inputs[..1])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::nn::mvn(inputs, self.eps as f64, self.normalize_variance, self.eps_mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_keeps_and_ceil_torch_drops_a_window_starting_in_the_end_padding() {
        // (input, kernel, stride, pad begin, pad end) -> floor, ceil, ceil_torch output sizes
        // as OpenVINO 2026.4's MaxPool-14 shape inference gives them.
        let table = [
            ((4, 1, 2, 0, 1), [3, 3, 2]),
            ((4, 1, 2, 0, 2), [3, 4, 3]),
            ((5, 3, 2, 0, 1), [2, 3, 3]),
            ((4, 2, 2, 0, 1), [2, 3, 2]),
            ((6, 3, 2, 1, 2), [4, 4, 4]),
            ((3, 2, 2, 0, 1), [2, 2, 2]),
        ];
        for ((i, k, st, pb, pe), want) in table {
            let got = [RoundingType::Floor, RoundingType::Ceil, RoundingType::CeilTorch]
                .map(|r| window_output(i, k, st, 1, (pb, pe), r).expect("fits"));
            assert_eq!(got, want, "input {i} kernel {k} stride {st} pads ({pb}, {pe})");
        }
    }
}
