//! Our own opset `onnx_ext1` ([`ONNX_EXT_OPSET`](super::ONNX_EXT_OPSET)): ONNX ops OpenVINO has
//! no op for — the string ops and `ai.onnx.ml` `LabelEncoder`.
//!
//! Their string-valued parameters (stop words, delimiter, pattern, keys and values) are string
//! Const inputs rather than `<data>` attributes, so any text survives the IR exactly (the `.bin`
//! string packing) and no attribute escaping rule applies to it.

use serde::{Deserialize, Serialize};

use super::{InferInput, ONNX_EXT_OPSET, OpSpec, OutputType, broadcast_shapes, expect_inputs};
use crate::element::ElementType;
use crate::error::Result;
use crate::invalid;
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

/// Fails unless input `i` is a string tensor (or of a type not known yet).
fn expect_string(inputs: &[InferInput<'_>], i: usize, what: &str) -> Result<()> {
    let et = inputs[i].element_type;
    if !et.compatible(ElementType::String) {
        return Err(invalid!("{what} (input {i}) must be a string tensor, got {et}"));
    }
    Ok(())
}

/// Fails unless input `i` is a scalar or single-element string tensor.
fn expect_string_scalar(inputs: &[InferInput<'_>], i: usize, what: &str) -> Result<()> {
    expect_string(inputs, i, what)?;
    if let Some(s) = inputs[i].shape.to_static()
        && s.iter().product::<usize>() != 1
    {
        return Err(invalid!("{what} (input {i}) must hold one string, got shape {s:?}"));
    }
    Ok(())
}

/// Case change applied by [`StringNormalizer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum CaseChange {
    /// Strings are left as they are.
    #[default]
    None,
    /// Unicode lower case.
    Lower,
    /// Unicode upper case.
    Upper,
}

/// ONNX `StringNormalizer`-10: drops the elements equal to a stop word, then changes case.
///
/// Inputs: `X` (string, `[C]` or `[1, C]`), `stopwords` (string, 1-D, may be empty). The output
/// keeps the rank; when every element is dropped it is `[""]` (`[[""]]` for `[1, C]`).
/// Case mappings are Unicode's default ones (Rust's `char` methods), independent of any locale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StringNormalizer {
    /// Case change applied after the stop words are removed.
    #[serde(default)]
    pub case_change_action: CaseChange,
    /// Whether stop words match case-sensitively (otherwise both sides are lower-cased).
    #[serde(default)]
    pub is_case_sensitive: bool,
}

impl OpSpec for StringNormalizer {
    const TYPE: &'static str = "StringNormalizer";
    const OPSET: u32 = 1;
    const OPSET_NAME: &'static str = ONNX_EXT_OPSET;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        expect_string(inputs, 0, "X")?;
        expect_string(inputs, 1, "stopwords")?;
        let no_stopwords = inputs[1].shape.to_static().is_some_and(|s| s.iter().product::<usize>() == 0);
        // Without stop words nothing is dropped; an empty input still gives one "".
        let kept = |c: Dim| match c.get() {
            Some(n) if no_stopwords => Dim::fixed(n.max(1)),
            _ => Dim::interval(1, c.max.map(|m| m.max(1))),
        };
        let shape = match inputs[0].shape.dims() {
            None => PartialShape::DynamicRank,
            Some([c]) => PartialShape::Ranked(vec![kept(*c)]),
            Some([n, c]) if n.contains(1) => PartialShape::Ranked(vec![Dim::fixed(1), kept(*c)]),
            Some(_) => return Err(invalid!("X must be [C] or [1, C], got {}", inputs[0].shape)),
        };
        Ok(vec![OutputType::new(ElementType::String, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::strings::string_normalizer(self, inputs)
    }
}

/// ONNX `StringConcat`-20: element-wise `X + Y` of two string tensors, numpy broadcasting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StringConcat {}

impl OpSpec for StringConcat {
    const TYPE: &'static str = "StringConcat";
    const OPSET: u32 = 1;
    const OPSET_NAME: &'static str = ONNX_EXT_OPSET;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        expect_string(inputs, 0, "X")?;
        expect_string(inputs, 1, "Y")?;
        let shape = broadcast_shapes(inputs[0].shape, inputs[1].shape, super::AutoBroadcast::Numpy)?;
        Ok(vec![OutputType::new(ElementType::String, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::strings::string_concat(inputs)
    }
}

/// ONNX `StringSplit`-20: splits every element of `X` on the `delimiter` input (a string
/// scalar; empty means runs of whitespace, with leading and trailing whitespace dropped).
///
/// Outputs: the substrings, shape `X.shape + [max count]` padded with `""`, and the i64 count
/// per element, shape `X.shape`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StringSplit {
    /// Most splits per element; negative means no limit.
    #[serde(default = "unlimited")]
    pub maxsplit: i64,
}

fn unlimited() -> i64 {
    -1
}

impl Default for StringSplit {
    fn default() -> StringSplit {
        StringSplit { maxsplit: unlimited() }
    }
}

impl OpSpec for StringSplit {
    const TYPE: &'static str = "StringSplit";
    const OPSET: u32 = 1;
    const OPSET_NAME: &'static str = ONNX_EXT_OPSET;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        expect_string(inputs, 0, "X")?;
        expect_string_scalar(inputs, 1, "delimiter")?;
        let parts = match inputs[0].shape {
            PartialShape::DynamicRank => PartialShape::DynamicRank,
            PartialShape::Ranked(d) => {
                let mut d = d.clone();
                // At most maxsplit + 1 parts per element.
                let max = u64::try_from(self.maxsplit).ok().and_then(|m| m.checked_add(1));
                d.push(Dim::interval(0, max));
                PartialShape::Ranked(d)
            }
        };
        Ok(vec![
            OutputType::new(ElementType::String, parts),
            OutputType::new(ElementType::I64, inputs[0].shape.clone()),
        ])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::strings::string_split(self, inputs)
    }
}

/// ONNX `RegexFullMatch`-20: whether each element of `X` matches the `pattern` input (a string
/// scalar in RE2 syntax) as a whole. Output: boolean, shape of `X`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RegexFullMatch {}

impl OpSpec for RegexFullMatch {
    const TYPE: &'static str = "RegexFullMatch";
    const OPSET: u32 = 1;
    const OPSET_NAME: &'static str = ONNX_EXT_OPSET;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        expect_string(inputs, 0, "X")?;
        expect_string_scalar(inputs, 1, "pattern")?;
        Ok(vec![OutputType::new(ElementType::Boolean, inputs[0].shape.clone())])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::strings::regex_full_match(inputs)
    }
}

/// `ai.onnx.ml` `LabelEncoder`: maps each element of `X` through a table.
///
/// Inputs: `X`, `keys` (1-D, the type of `X`), `values` (1-D, as many as `keys`), `default`
/// (one value of the type of `values`, used for elements not among the keys). A repeated key
/// maps to its last value; a NaN key matches every NaN. Output: the type of `values`, shape of `X`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LabelEncoder {}

impl OpSpec for LabelEncoder {
    const TYPE: &'static str = "LabelEncoder";
    const OPSET: u32 = 1;
    const OPSET_NAME: &'static str = ONNX_EXT_OPSET;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 4, 4)?;
        let (x, keys, values, default) = (&inputs[0], &inputs[1], &inputs[2], &inputs[3]);
        if !x.element_type.compatible(keys.element_type) {
            return Err(invalid!("X is {} but the keys are {}", x.element_type, keys.element_type));
        }
        let out = values.element_type.merge(default.element_type).ok_or_else(|| {
            invalid!("values are {} but the default is {}", values.element_type, default.element_type)
        })?;
        for (t, what) in [(keys, "keys"), (values, "values")] {
            if t.shape.rank().is_some_and(|r| r != 1) {
                return Err(invalid!("{what} must be 1-D, got {}", t.shape));
            }
        }
        if let (Some(k), Some(v)) = (keys.shape.to_static(), values.shape.to_static())
            && k != v
        {
            return Err(invalid!("{k:?} keys but {v:?} values"));
        }
        if let Some(s) = default.shape.to_static()
            && s.iter().product::<usize>() != 1
        {
            return Err(invalid!("default must hold one value, got shape {s:?}"));
        }
        Ok(vec![OutputType::new(out, x.shape.clone())])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::strings::label_encoder(inputs)
    }
}
