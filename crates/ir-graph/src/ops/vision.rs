//! Spatial sampling ops: `GridSample` (opset9).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_order_matches_openvino() {
        let a = crate::attrs::to_attrs(&GridSample::default()).expect("a");
        let got: Vec<String> = a.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(got, ["align_corners=false", "mode=bilinear", "padding_mode=zeros"]);
    }
}
