//! Spatial sampling ops: `GridSample`, `NonMaxSuppression`, `ROIAlign` (opset9) and
//! `DeformableConvolution` (opset8).

use serde::{Deserialize, Serialize};

use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::error::Result;
use crate::invalid;
use crate::shape::PartialShape;
use crate::tensor::Tensor;

/// How GridSample interpolates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GridSampleMode {
    /// Bilinear.
    #[default]
    Bilinear,
    /// Bicubic (A = -0.75).
    Bicubic,
    /// Nearest (ties to even).
    Nearest,
}

/// How GridSample treats coordinates outside the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GridSamplePadding {
    /// Zeros outside.
    #[default]
    Zeros,
    /// Clamp to the border.
    Border,
    /// Reflect at the border.
    Reflection,
}

/// Samples `data` `[N, C, H, W]` at the normalized `(x, y)` of `grid` `[N, H_out, W_out, 2]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GridSample {
    /// -1 and 1 are the centres of the corner pixels (else their outer edges).
    pub align_corners: bool,
    /// Interpolation.
    pub mode: GridSampleMode,
    /// Out-of-range handling.
    pub padding_mode: GridSamplePadding,
}

impl OpSpec for GridSample {
    const TYPE: &'static str = "GridSample";
    const OPSET: u32 = 9;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        let et = inputs[0].element_type;
        let shape = match (inputs[0].shape.dims(), inputs[1].shape.dims()) {
            (Some(d), Some(g)) => {
                if d.len() != 4 || g.len() != 4 {
                    return Err(invalid!("data and grid must be 4-D, got ranks {} and {}", d.len(), g.len()));
                }
                if let Some(last) = g[3].get()
                    && last != 2
                {
                    return Err(invalid!("grid's last dimension must be 2, got {last}"));
                }
                let n = d[0].merge(g[0]).ok_or_else(|| invalid!("batch sizes {} and {} differ", d[0], g[0]))?;
                PartialShape::Ranked(vec![n, d[1], g[1], g[2]])
            }
            _ => PartialShape::dynamic_of_rank(4),
        };
        Ok(vec![OutputType::new(et, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::vision::grid_sample(self, inputs)
    }
}

/// How NonMaxSuppression reads a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BoxEncoding {
    /// `[y1, x1, y2, x2]`, either diagonal.
    #[default]
    Corner,
    /// `[x_center, y_center, width, height]`.
    Center,
}

/// Greedy non-maximum suppression per batch and class (`NonMaxSuppression`, opset9).
///
/// Inputs: boxes `[N, B, 4]`, scores `[N, C, B]`, then optional scalars
/// max_output_boxes_per_class, iou_threshold, score_threshold, soft_nms_sigma. Outputs:
/// selected_indices `[M, 3]` (batch, class, box), selected_scores `[M, 3]`, valid_outputs `[1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NonMaxSuppression {
    /// Box format.
    pub box_encoding: BoxEncoding,
    /// Order all selections by score (else by batch, class, then score).
    pub sort_result_descending: bool,
    /// Type of the index outputs.
    #[serde(default = "i64_type")]
    pub output_type: crate::element::ElementType,
}

fn i64_type() -> crate::element::ElementType {
    crate::element::ElementType::I64
}

impl OpSpec for NonMaxSuppression {
    const TYPE: &'static str = "NonMaxSuppression";
    const OPSET: u32 = 9;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 6)?;
        if let Some(b) = inputs[0].shape.dims()
            && (b.len() != 3 || b[2].get().is_some_and(|d| d != 4))
        {
            return Err(invalid!("boxes must be [N, B, 4], got {}", inputs[0].shape));
        }
        if let Some(s) = inputs[1].shape.rank()
            && s != 3
        {
            return Err(invalid!("scores must be [N, C, B], got {}", inputs[1].shape));
        }
        let m = crate::shape::Dim::DYNAMIC;
        let three = crate::shape::Dim::fixed(3);
        let it = self.output_type;
        Ok(vec![
            OutputType::new(it, PartialShape::Ranked(vec![m, three])),
            OutputType::new(inputs[1].element_type, PartialShape::Ranked(vec![m, three])),
            OutputType::new(it, PartialShape::fixed(&[1])),
        ])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::vision::nms(self, inputs)
    }
}

/// How ROIAlign pools the samples of a bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RoiAlignMode {
    /// Mean of the bilinear samples.
    #[default]
    Avg,
    /// Maximum over the samples of the largest weighted corner (as ONNX Runtime).
    Max,
}

/// How ROIAlign maps box coordinates to pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RoiAlignedMode {
    /// `x * scale`, boxes at least one pixel wide.
    #[default]
    Asymmetric,
    /// `x * scale - 0.5`, no minimum box size (ONNX's `half_pixel`).
    HalfPixelForNn,
    /// `(x + 0.5) * scale - 0.5`, no minimum box size.
    HalfPixel,
}

/// Average or max pooling of bilinear samples over boxes (`ROIAlign`, opset9).
///
/// Inputs: data `[N, C, H, W]`, rois `[R, 4]` (x1, y1, x2, y2), batch_indices `[R]`; output
/// `[R, C, pooled_h, pooled_w]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoiAlign {
    /// Output height.
    pub pooled_h: u64,
    /// Output width.
    pub pooled_w: u64,
    /// Samples per bin side (0: adaptive, ceil(box / pooled)).
    pub sampling_ratio: u64,
    /// Factor from box coordinates to data pixels.
    pub spatial_scale: f64,
    /// Pooling.
    pub mode: RoiAlignMode,
    /// Coordinate mapping.
    #[serde(default)]
    pub aligned_mode: RoiAlignedMode,
}

impl OpSpec for RoiAlign {
    const TYPE: &'static str = "ROIAlign";
    const OPSET: u32 = 9;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 3)?;
        if self.pooled_h == 0 || self.pooled_w == 0 {
            return Err(invalid!("pooled_h and pooled_w must be positive"));
        }
        let et = inputs[0].element_type;
        if let Some(r) = inputs[0].shape.rank()
            && r != 4
        {
            return Err(invalid!("data must be 4-D, got {}", inputs[0].shape));
        }
        if let Some(d) = inputs[1].shape.dims()
            && (d.len() != 2 || d[1].get().is_some_and(|v| v != 4))
        {
            return Err(invalid!("rois must be [R, 4], got {}", inputs[1].shape));
        }
        let r = inputs[1].shape.dims().map_or(crate::shape::Dim::DYNAMIC, |d| d[0]);
        let c = inputs[0].shape.dims().map_or(crate::shape::Dim::DYNAMIC, |d| d[1]);
        let (ph, pw) = (crate::shape::Dim::fixed(self.pooled_h), crate::shape::Dim::fixed(self.pooled_w));
        Ok(vec![OutputType::new(et, PartialShape::Ranked(vec![r, c, ph, pw]))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::vision::roi_align(self, inputs)
    }
}

/// Deformable 2-D convolution (`DeformableConvolution`, opset8).
///
/// Inputs: data `[N, C_in, H, W]`, offsets `[N, DG * kh * kw * 2, H_out, W_out]` ((y, x) pairs
/// per kernel tap), filters `[C_out, C_in / group, kh, kw]`, optional mask
/// `[N, DG * kh * kw, H_out, W_out]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeformableConvolution {
    /// Interpolate samples just outside the data against zero padding (else they are zero);
    /// OpenVINO writes it first.
    #[serde(default)]
    pub bilinear_interpolation_pad: bool,
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
    pub auto_pad: super::PadType,
    /// Channel groups.
    pub group: u64,
    /// Offset groups.
    pub deformable_group: u64,
}

impl OpSpec for DeformableConvolution {
    const TYPE: &'static str = "DeformableConvolution";
    const OPSET: u32 = 8;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 4)?;
        if self.group == 0 || self.deformable_group == 0 {
            return Err(invalid!("group and deformable_group must be positive"));
        }
        let et = inputs[0].element_type;
        let (x, off, w) = (inputs[0].shape.dims(), inputs[1].shape.dims(), inputs[2].shape.dims());
        for (d, what) in [(x, "data"), (off, "offsets"), (w, "filters")] {
            if let Some(d) = d
                && d.len() != 4
            {
                return Err(invalid!("{what} must be 4-D, got rank {}", d.len()));
            }
        }
        let dyn_ = crate::shape::Dim::DYNAMIC;
        let n = x.map_or(dyn_, |d| d[0]);
        let c_out = w.map_or(dyn_, |d| d[0]);
        let spatial = match (x, w) {
            (Some(x), Some(w)) => {
                let mut s = Vec::new();
                for i in 0..2 {
                    s.push(match (x[2 + i].get(), w[2 + i].get()) {
                        (Some(len), Some(k)) => {
                            let st = self.strides.get(i).copied().unwrap_or(1).max(1);
                            let dl = self.dilations.get(i).copied().unwrap_or(1).max(1);
                            let pb = self.pads_begin.get(i).copied().unwrap_or(0);
                            let pe = self.pads_end.get(i).copied().unwrap_or(0);
                            let span = dl * (k as i64 - 1) + 1;
                            let padded = len as i64 + pb + pe;
                            if padded < span {
                                return Err(invalid!("kernel does not fit the padded data"));
                            }
                            crate::shape::Dim::fixed(((padded - span) / st + 1) as u64)
                        }
                        _ => off.map_or(dyn_, |o| o[2 + i]),
                    });
                }
                s
            }
            _ => off.map_or(vec![dyn_, dyn_], |o| vec![o[2], o[3]]),
        };
        Ok(vec![OutputType::new(et, PartialShape::Ranked(vec![n, c_out, spatial[0], spatial[1]]))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::vision::deformable_conv(self, inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_order_matches_openvino() {
        let a = crate::attrs::to_attrs(&GridSample::default()).expect("a");
        let got: Vec<String> = a.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(got, ["align_corners=false", "mode=bilinear", "padding_mode=zeros"]);
        let r = RoiAlign {
            pooled_h: 2,
            pooled_w: 3,
            sampling_ratio: 0,
            spatial_scale: 0.5,
            mode: RoiAlignMode::Avg,
            aligned_mode: RoiAlignedMode::HalfPixel,
        };
        let got: Vec<String> = crate::attrs::to_attrs(&r).expect("a").iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            got,
            [
                "pooled_h=2",
                "pooled_w=3",
                "sampling_ratio=0",
                "spatial_scale=0.5",
                "mode=avg",
                "aligned_mode=half_pixel"
            ]
        );
        let d = DeformableConvolution {
            strides: vec![1, 1],
            dilations: vec![1, 1],
            pads_begin: vec![0, 0],
            pads_end: vec![0, 0],
            auto_pad: super::super::PadType::Explicit,
            group: 1,
            deformable_group: 1,
            bilinear_interpolation_pad: true,
        };
        let got: Vec<String> = crate::attrs::to_attrs(&d).expect("a").iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            got,
            [
                "bilinear_interpolation_pad=true",
                "strides=1, 1",
                "dilations=1, 1",
                "pads_begin=0, 0",
                "pads_end=0, 0",
                "auto_pad=explicit",
                "group=1",
                "deformable_group=1",
            ]
        );
    }
}
