//! Graph boundary ops: Parameter, Const, Result, and Convert.

use serde::{Deserialize, Serialize};

use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::element::ElementType;
use crate::error::Result;
use crate::shape::PartialShape;
use crate::tensor::Tensor;

/// A model input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    /// Declared shape (`shape="1,?,224,224"`).
    #[serde(default = "PartialShape::scalar")]
    pub shape: PartialShape,
    /// Declared element type.
    #[serde(default = "dynamic_type")]
    pub element_type: ElementType,
}

fn dynamic_type() -> ElementType {
    ElementType::Dynamic
}

impl OpSpec for Parameter {
    const TYPE: &'static str = "Parameter";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 0, 0)?;
        Ok(vec![OutputType::new(self.element_type, self.shape.clone())])
    }
}

/// A constant tensor (`type="Const"` in IR).
#[derive(Debug, Clone)]
pub struct Constant {
    /// The value; its bytes may point into a memory map.
    pub value: Tensor,
}

impl PartialEq for Constant {
    fn eq(&self, other: &Constant) -> bool {
        self.value.same_content(&other.value)
    }
}

impl Serialize for Constant {
    /// Writes `element_type` and `shape`; the IR writer adds `offset` and `size`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Constant", 2)?;
        st.serialize_field("element_type", &self.value.element_type())?;
        let dims: Vec<String> = self.value.shape().iter().map(|d| d.to_string()).collect();
        st.serialize_field("shape", &dims.join(", "))?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Constant {
    /// Constants cannot come from attributes alone: their data lives in the weights file.
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> std::result::Result<Self, D::Error> {
        Err(serde::de::Error::custom("Const data must be read from the weights file"))
    }
}

impl OpSpec for Constant {
    const TYPE: &'static str = "Const";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 0, 0)?;
        Ok(vec![OutputType::new(self.value.element_type(), PartialShape::fixed(self.value.shape()))])
    }
    fn evaluate(&self, _inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(vec![self.value.clone()])
    }
}

/// A model output (`type="Result"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ResultOp {}

impl OpSpec for ResultOp {
    const TYPE: &'static str = "Result";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 1, 1)?;
        Ok(vec![OutputType::new(inputs[0].element_type, inputs[0].shape.clone())])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(inputs.to_vec())
    }
}

/// Element type conversion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Convert {
    /// Target element type.
    pub destination_type: ElementType,
}

impl OpSpec for Convert {
    const TYPE: &'static str = "Convert";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 1, 1)?;
        Ok(vec![OutputType::new(self.destination_type, inputs[0].shape.clone())])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::elementwise::convert(inputs, self.destination_type)
    }
}
