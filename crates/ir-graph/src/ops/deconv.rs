//! Transposed convolution: `ConvolutionBackpropData` and `GroupConvolutionBackpropData` (opset1).

use serde::{Deserialize, Serialize};

use super::{InferInput, OpSpec, OutputType, PadType, expect_inputs};
use crate::error::Result;
use crate::invalid;
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

/// Transposed convolution; filter `[C_in, C_out, k...]`, optional input 2 = output spatial shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvolutionBackpropData {
    /// Step per spatial axis.
    pub strides: Vec<i64>,
    /// Kernel dilation per spatial axis.
    pub dilations: Vec<i64>,
    /// Padding removed before each spatial axis.
    pub pads_begin: Vec<i64>,
    /// Padding removed after each spatial axis.
    pub pads_end: Vec<i64>,
    /// Padding rule.
    #[serde(default)]
    pub auto_pad: PadType,
    /// Extra size added at the end of each spatial axis.
    #[serde(default)]
    pub output_padding: Vec<i64>,
}

/// Grouped transposed convolution; filter `[G, C_in/G, C_out/G, k...]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupConvolutionBackpropData {
    /// Step per spatial axis.
    pub strides: Vec<i64>,
    /// Padding removed before each spatial axis.
    pub pads_begin: Vec<i64>,
    /// Padding removed after each spatial axis.
    pub pads_end: Vec<i64>,
    /// Kernel dilation per spatial axis.
    pub dilations: Vec<i64>,
    /// Padding rule.
    #[serde(default)]
    pub auto_pad: PadType,
    /// Extra size added at the end of each spatial axis.
    #[serde(default)]
    pub output_padding: Vec<i64>,
}

/// The attributes both versions share.
#[derive(Debug, Clone, Copy)]
pub struct DeconvAttrs<'a> {
    /// Step per spatial axis.
    pub strides: &'a [i64],
    /// Kernel dilation per spatial axis.
    pub dilations: &'a [i64],
    /// Explicit pads before.
    pub pads_begin: &'a [i64],
    /// Explicit pads after.
    pub pads_end: &'a [i64],
    /// Padding rule.
    pub auto_pad: PadType,
    /// Extra size at the end.
    pub output_padding: &'a [i64],
}

fn at(v: &[i64], i: usize, default: i64) -> i64 {
    v.get(i).copied().unwrap_or(default)
}

impl DeconvAttrs<'_> {
    /// Output length and begin pad of spatial axis `i` for input length `len`, kernel `k`, and
    /// the requested output length when input 2 gives one.
    pub fn axis(&self, i: usize, len: i64, k: i64, requested: Option<i64>) -> Result<(i64, i64)> {
        let (s, d, op) = (at(self.strides, i, 1), at(self.dilations, i, 1), at(self.output_padding, i, 0));
        if s < 1 || d < 1 {
            return Err(invalid!("strides and dilations must be positive"));
        }
        let natural = s * (len - 1) + d * (k - 1) + 1 + op;
        let split = |total: i64| -> i64 {
            if total <= 0 {
                0
            } else if self.auto_pad == PadType::SameLower {
                total - total / 2
            } else {
                total / 2
            }
        };
        let same = matches!(self.auto_pad, PadType::SameUpper | PadType::SameLower | PadType::Auto);
        Ok(match (requested, self.auto_pad) {
            (Some(out), _) => (out, split(natural - out)),
            (None, PadType::Valid) => (natural, 0),
            (None, _) if same => (len * s, split(natural - len * s)),
            (None, _) => {
                let (pb, pe) = (at(self.pads_begin, i, 0), at(self.pads_end, i, 0));
                (natural - pb - pe, pb)
            }
        })
    }
}

fn infer_deconv(inputs: &[InferInput<'_>], a: &DeconvAttrs<'_>, grouped: bool) -> Result<Vec<OutputType>> {
    expect_inputs(inputs, 2, 3)?;
    let et = inputs[0].element_type.merge(inputs[1].element_type).ok_or_else(|| invalid!("input types differ"))?;
    let (Some(x), Some(w)) = (inputs[0].shape.dims(), inputs[1].shape.dims()) else {
        return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]);
    };
    let off = usize::from(grouped);
    if x.len() < 3 || w.len() != x.len() + off {
        return Err(invalid!("data rank {} and filter rank {} do not match", x.len(), w.len()));
    }
    let n = x.len() - 2;
    let c_out = if grouped { w[0].mul(w[2]) } else { w[1] };
    let cin_w = if grouped { w[0].mul(w[1]) } else { w[0] };
    if let (Some(c), Some(cw)) = (x[1].get(), cin_w.get())
        && c != cw
    {
        return Err(invalid!("data has {c} channels, filter expects {cw}"));
    }
    let requested: Option<Vec<i64>> = match inputs.get(2) {
        Some(s) => match s.value {
            Some(v) => Some(v.to_i64_vec()?),
            None => {
                return Ok(vec![OutputType::new(
                    et,
                    PartialShape::Ranked([vec![x[0], c_out], vec![Dim::DYNAMIC; n]].concat()),
                )]);
            }
        },
        None => None,
    };
    if let Some(r) = &requested
        && r.len() != n
    {
        return Err(invalid!("output_shape has {} values for {n} spatial dims", r.len()));
    }
    let mut dims = vec![x[0], c_out];
    for i in 0..n {
        let d = match (x[2 + i].get(), w[2 + off + i].get()) {
            (Some(len), Some(k)) => {
                let (o, _) = a.axis(i, len as i64, k as i64, requested.as_ref().map(|r| r[i]))?;
                Dim::fixed(u64::try_from(o).map_err(|_| invalid!("negative output size {o}"))?)
            }
            _ => match &requested {
                Some(r) => Dim::fixed(u64::try_from(r[i]).map_err(|_| invalid!("negative output size"))?),
                None => Dim::DYNAMIC,
            },
        };
        dims.push(d);
    }
    Ok(vec![OutputType::new(et, PartialShape::Ranked(dims))])
}

impl ConvolutionBackpropData {
    fn attrs(&self) -> DeconvAttrs<'_> {
        DeconvAttrs {
            strides: &self.strides,
            dilations: &self.dilations,
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            output_padding: &self.output_padding,
        }
    }
}

impl GroupConvolutionBackpropData {
    fn attrs(&self) -> DeconvAttrs<'_> {
        DeconvAttrs {
            strides: &self.strides,
            dilations: &self.dilations,
            pads_begin: &self.pads_begin,
            pads_end: &self.pads_end,
            auto_pad: self.auto_pad,
            output_padding: &self.output_padding,
        }
    }
}

impl OpSpec for ConvolutionBackpropData {
    const TYPE: &'static str = "ConvolutionBackpropData";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_deconv(inputs, &self.attrs(), false)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::deconv::deconvolution(Self::TYPE, inputs, false, &self.attrs())
    }
}

impl OpSpec for GroupConvolutionBackpropData {
    const TYPE: &'static str = "GroupConvolutionBackpropData";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_deconv(inputs, &self.attrs(), true)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::deconv::deconvolution(Self::TYPE, inputs, true, &self.attrs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ElementType, Model};

    #[test]
    fn shapes_with_pads_output_padding_and_output_shape() {
        let mut m = Model::new("t");
        let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[1, 1, 3, 3])).expect("x");
        let w = m.add_parameter("w", ElementType::F32, PartialShape::fixed(&[1, 2, 3, 3])).expect("w");
        let op = ConvolutionBackpropData {
            strides: vec![3, 2],
            dilations: vec![1, 1],
            pads_begin: vec![1, 2],
            pads_end: vec![1, 2],
            auto_pad: PadType::Explicit,
            output_padding: vec![0, 0],
        };
        let n = m.add_node(op.clone(), "d", &[x.into(), w.into()]).expect("d");
        assert_eq!(m.port(n.into()).expect("p").shape, PartialShape::fixed(&[1, 2, 7, 3]));
        let s = m.add_const("s", Tensor::from_vec(vec![2], vec![10i64, 8]).expect("s")).expect("s");
        let n = m.add_node(op, "d2", &[x.into(), w.into(), s.into()]).expect("d2");
        assert_eq!(m.port(n.into()).expect("p").shape, PartialShape::fixed(&[1, 2, 10, 8]));
    }

    #[test]
    fn attribute_order_matches_openvino() {
        let op = GroupConvolutionBackpropData {
            strides: vec![1],
            pads_begin: vec![0],
            pads_end: vec![0],
            dilations: vec![1],
            auto_pad: PadType::Explicit,
            output_padding: vec![0],
        };
        let a = crate::attrs::to_attrs(&op).expect("a");
        let got: Vec<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got, ["strides", "pads_begin", "pads_end", "dilations", "auto_pad", "output_padding"]);
    }
}
