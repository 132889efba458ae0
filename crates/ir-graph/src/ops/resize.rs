//! Interpolate (opset11): resizing with nearest, linear, linear_onnx and cubic filters.

use serde::{Deserialize, Serialize};

use super::nn::normalize_axis;
use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::error::Result;
use crate::invalid;
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

/// Interpolation filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InterpolateMode {
    /// Nearest neighbour.
    #[default]
    Nearest,
    /// Triangle filter (supports antialias).
    Linear,
    /// ONNX-style linear with clamped neighbours.
    LinearOnnx,
    /// Cubic convolution with `cube_coeff`.
    Cubic,
    /// Pillow's bilinear (not evaluated).
    BilinearPillow,
    /// Pillow's bicubic (not evaluated).
    BicubicPillow,
}

/// Whether input 1 holds output sizes or scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ShapeCalcMode {
    /// Target sizes.
    #[default]
    Sizes,
    /// Scale factors.
    Scales,
}

/// How output coordinates map to input coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CoordMode {
    /// `(x + 0.5) / scale - 0.5`.
    #[default]
    HalfPixel,
    /// Like half_pixel but 0 when the output length is 1.
    PytorchHalfPixel,
    /// `x / scale`.
    Asymmetric,
    /// `(x + 0.5) / scale`.
    TfHalfPixelForNn,
    /// `x * (in - 1) / (out - 1)`.
    AlignCorners,
}

/// How nearest mode rounds a fractional input coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NearestMode {
    /// Round, ties down.
    #[default]
    RoundPreferFloor,
    /// Round, ties up.
    RoundPreferCeil,
    /// Floor.
    Floor,
    /// Ceil.
    Ceil,
    /// Ceil when downsampling, truncate otherwise.
    Simple,
}

/// Resizes the axes of input 2 (default all) to sizes or by scales of input 1 (`Interpolate`, opset11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Interpolate {
    /// Filter.
    pub mode: InterpolateMode,
    /// Meaning of input 1.
    pub shape_calculation_mode: ShapeCalcMode,
    /// Coordinate transform.
    #[serde(default)]
    pub coordinate_transformation_mode: CoordMode,
    /// Rounding of nearest mode.
    #[serde(default)]
    pub nearest_mode: NearestMode,
    /// Widen the filter when downsampling (linear and cubic).
    #[serde(default)]
    pub antialias: bool,
    /// Zero padding before each axis of the input.
    #[serde(default)]
    pub pads_begin: Vec<i64>,
    /// Zero padding after each axis of the input.
    #[serde(default)]
    pub pads_end: Vec<i64>,
    /// Cubic kernel parameter A.
    #[serde(default = "cube")]
    pub cube_coeff: f64,
}

fn cube() -> f64 {
    -0.75
}

/// Output length of a scaled axis, as OpenVINO computes it (the small epsilon absorbs scales
/// like 1/3 that were rounded to f32).
pub fn scaled_dim(d: u64, scale: f64) -> u64 {
    ((d as f64) * scale + 1e-5).floor().max(0.0) as u64
}

impl Interpolate {
    /// Padded input dim of axis `i`.
    fn padded(&self, d: Dim, i: usize) -> Result<Dim> {
        let b = self.pads_begin.get(i).copied().unwrap_or(0);
        let e = self.pads_end.get(i).copied().unwrap_or(0);
        Ok(match d.get() {
            Some(v) => {
                Dim::fixed(u64::try_from(v as i64 + b + e).map_err(|_| invalid!("pads make dimension {i} negative"))?)
            }
            None => Dim::DYNAMIC,
        })
    }

    /// Normalized axes from the optional axes input.
    fn axes(&self, axes: Option<Option<Vec<i64>>>, rank: usize) -> Result<Option<Vec<usize>>> {
        match axes {
            None => Ok(Some((0..rank).collect())),
            Some(None) => Ok(None),
            Some(Some(a)) => a.iter().map(|&x| normalize_axis(x, rank)).collect::<Result<Vec<_>>>().map(Some),
        }
    }
}

impl OpSpec for Interpolate {
    const TYPE: &'static str = "Interpolate";
    const OPSET: u32 = 11;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 3)?;
        let et = inputs[0].element_type;
        let Some(d) = inputs[0].shape.dims() else {
            return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]);
        };
        let axes_val = inputs.get(2).map(|a| a.value.map(|v| v.to_i64_vec()).transpose()).transpose()?;
        let padded = d.iter().enumerate().map(|(i, &x)| self.padded(x, i)).collect::<Result<Vec<_>>>()?;
        let (Some(axes), Some(v)) = (self.axes(axes_val, d.len())?, inputs[1].value) else {
            // Unknown axes or targets: every axis that may be resized becomes unknown.
            return Ok(vec![OutputType::new(et, PartialShape::dynamic_of_rank(d.len()))]);
        };
        let mut out = padded;
        match self.shape_calculation_mode {
            ShapeCalcMode::Sizes => {
                let s = v.to_i64_vec()?;
                if s.len() != axes.len() {
                    return Err(invalid!("{} sizes for {} axes", s.len(), axes.len()));
                }
                for (&a, &n) in axes.iter().zip(&s) {
                    out[a] = Dim::fixed(u64::try_from(n).map_err(|_| invalid!("negative size {n}"))?);
                }
            }
            ShapeCalcMode::Scales => {
                let s = v.to_f64_vec()?;
                if s.len() != axes.len() {
                    return Err(invalid!("{} scales for {} axes", s.len(), axes.len()));
                }
                for (&a, &sc) in axes.iter().zip(&s) {
                    out[a] = out[a].get().map_or(Dim::DYNAMIC, |x| Dim::fixed(scaled_dim(x, sc)));
                }
            }
        }
        Ok(vec![OutputType::new(et, PartialShape::Ranked(out))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let out = crate::eval::static_output_shape(self, inputs)?;
        let rank = inputs[0].shape().len();
        let axes = match inputs.get(2) {
            Some(a) => a.to_i64_vec()?.iter().map(|&x| normalize_axis(x, rank)).collect::<Result<Vec<_>>>()?,
            None => (0..rank).collect(),
        };
        let scales = match self.shape_calculation_mode {
            ShapeCalcMode::Scales => Some(inputs[1].to_f64_vec()?),
            ShapeCalcMode::Sizes => None,
        };
        crate::eval::resize::interpolate(self, &inputs[0], &out, &axes, scales.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ElementType, Model};

    #[test]
    fn shapes_from_sizes_scales_and_pads() {
        let mut m = Model::new("t");
        let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[1, 3, 10, 20])).expect("x");
        let sz = m.add_const("s", Tensor::from_vec(vec![2], vec![5i64, 7]).expect("s")).expect("s");
        let ax = m.add_const("a", Tensor::from_vec(vec![2], vec![2i64, 3]).expect("a")).expect("a");
        let op = Interpolate { mode: InterpolateMode::Linear, cube_coeff: -0.75, ..Default::default() };
        let n = m.add_node(op.clone(), "i", &[x.into(), sz.into(), ax.into()]).expect("i");
        assert_eq!(m.port(n.into()).expect("p").shape, PartialShape::fixed(&[1, 3, 5, 7]));
        let sc = m.add_const("sc", Tensor::from_vec(vec![2], vec![0.333_333_34f32, 1.5]).expect("sc")).expect("sc");
        let op2 = Interpolate {
            shape_calculation_mode: ShapeCalcMode::Scales,
            pads_begin: vec![0, 0, 1, 0],
            pads_end: vec![0, 0, 1, 0],
            ..op
        };
        let n = m.add_node(op2, "i2", &[x.into(), sc.into(), ax.into()]).expect("i");
        assert_eq!(m.port(n.into()).expect("p").shape, PartialShape::fixed(&[1, 3, 4, 30]));
    }

    #[test]
    fn attribute_order_matches_openvino() {
        let op = Interpolate { cube_coeff: -0.75, ..Default::default() };
        let a = crate::attrs::to_attrs(&op).expect("a");
        let got: Vec<String> = a.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            got,
            [
                "mode=nearest",
                "shape_calculation_mode=sizes",
                "coordinate_transformation_mode=half_pixel",
                "nearest_mode=round_prefer_floor",
                "antialias=false",
                "pads_begin=",
                "pads_end=",
                "cube_coeff=-0.75"
            ]
        );
    }
}
