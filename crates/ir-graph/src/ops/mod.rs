//! The OpenVINO operation set: one typed struct per op version, gathered in [`Op`].
//!
//! Each struct implements [`OpSpec`]: its IR type name and defining opset, output type and shape
//! inference, and (where constant folding or the reference runtime needs it) evaluation on
//! concrete tensors. Attribute fields derive serde with the IR's spellings, so
//! [`Op::attributes`] and [`Op::from_ir`] serialize every op through one generic path.

use std::collections::HashMap;

use serde::{Serialize, de::DeserializeOwned};

use crate::attrs::{AttrError, AttrList, from_attrs, to_attrs};
use crate::element::ElementType;
use crate::error::{GraphError, Result};
use crate::shape::PartialShape;
use crate::tensor::Tensor;

mod activation;
mod binary;
mod control;
mod deconv;
mod indexing;
mod io;
mod math;
mod nn;
mod reduce;
mod resize;
mod rnn;
mod shape_ops;
mod signal;
mod slicing;
mod strings;
mod unary;
mod vision;

pub use activation::*;
pub use binary::*;
pub use control::*;
pub use deconv::*;
pub use indexing::*;
pub use io::*;
pub use math::*;
pub use nn::*;
pub use reduce::*;
pub use resize::*;
pub use rnn::*;
pub use shape_ops::*;
pub use signal::*;
pub use slicing::*;
pub use strings::*;
pub use unary::*;
pub use vision::*;

/// What an op sees of one input during inference: its type, shape and value when constant.
#[derive(Debug, Clone, Copy)]
pub struct InferInput<'a> {
    /// Element type of the input.
    pub element_type: ElementType,
    /// Shape of the input.
    pub shape: &'a PartialShape,
    /// The value, when the producer is a constant.
    pub value: Option<&'a Tensor>,
}

/// Element type and shape of one op output.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutputType {
    /// Element type.
    pub element_type: ElementType,
    /// Shape.
    pub shape: PartialShape,
}

impl OutputType {
    /// Convenience constructor.
    pub fn new(element_type: ElementType, shape: PartialShape) -> OutputType {
        OutputType { element_type, shape }
    }
}

/// The behaviour every op version provides.
pub trait OpSpec: Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned {
    /// IR `type` attribute (`Const`, `ReLU`, `Convolution`, ...).
    const TYPE: &'static str;
    /// Number of the opset that defines this version (`version="opsetN"`).
    const OPSET: u32;
    /// Name of the opset family: OpenVINO's own `opset`, or [`ONNX_EXT_OPSET`] for ops of ours.
    const OPSET_NAME: &'static str = OPENVINO_OPSET;
    /// Output element types and shapes from the inputs'.
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>>;
    /// Reference evaluation on concrete inputs (constant folding, reference runtime).
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let et = inputs.first().map(|t| t.element_type()).unwrap_or(ElementType::Dynamic);
        Err(GraphError::NotEvaluable { op: Self::TYPE.to_string(), element_type: et.to_string() })
    }
}

/// The family name of OpenVINO's own opsets (`version="opset8"`).
pub const OPENVINO_OPSET: &str = "opset";

/// The family name of our own opset for ONNX ops OpenVINO has no op for (string ops,
/// `LabelEncoder`): `version="onnx_ext1"`. OpenVINO itself does not load these layers.
pub const ONNX_EXT_OPSET: &str = "onnx_ext";

/// Checks the input count; `Err` carries a message for a person.
pub fn expect_inputs(inputs: &[InferInput<'_>], min: usize, max: usize) -> Result<()> {
    if inputs.len() < min || inputs.len() > max {
        let want = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return Err(crate::invalid!("expects {want} inputs, got {}", inputs.len()));
    }
    Ok(())
}

macro_rules! define_ops {
    ($($variant:ident),* $(,)?) => {
        /// Any op of the supported OpenVINO opsets.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Op {
            $(
                #[doc = concat!("The `", stringify!($variant), "` op.")]
                $variant($variant),
            )*
        }

        impl Op {
            /// IR `type` attribute.
            pub fn type_name(&self) -> &'static str {
                match self { $(Op::$variant(_) => <$variant as OpSpec>::TYPE,)* }
            }

            /// Number of the defining opset.
            pub fn opset(&self) -> u32 {
                match self { $(Op::$variant(_) => <$variant as OpSpec>::OPSET,)* }
            }

            /// Name of the defining opset's family (`opset` or [`ONNX_EXT_OPSET`]).
            pub fn opset_name(&self) -> &'static str {
                match self { $(Op::$variant(_) => <$variant as OpSpec>::OPSET_NAME,)* }
            }

            /// Output types and shapes.
            pub fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
                match self { $(Op::$variant(o) => o.infer(inputs),)* }
            }

            /// Reference evaluation.
            pub fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
                match self { $(Op::$variant(o) => o.evaluate(inputs),)* }
            }

            /// The `<data>` attributes, in the order OpenVINO writes them.
            pub fn attributes(&self) -> Result<AttrList, AttrError> {
                match self { $(Op::$variant(o) => to_attrs(o),)* }
            }

            /// Every (type, opset) pair this build knows.
            pub fn known() -> &'static [(&'static str, u32)] {
                &[$((<$variant as OpSpec>::TYPE, <$variant as OpSpec>::OPSET),)*]
            }

            /// Every (type, opset family, opset) triple this build knows.
            pub fn known_versions() -> &'static [(&'static str, &'static str, u32)] {
                &[$((<$variant as OpSpec>::TYPE, <$variant as OpSpec>::OPSET_NAME, <$variant as OpSpec>::OPSET),)*]
            }

            fn build(variant: usize, attrs: &HashMap<String, String>) -> Option<Result<Op, AttrError>> {
                let mut i = 0usize;
                $(
                    if i == variant {
                        return Some(from_attrs::<$variant>(attrs).map(Op::$variant));
                    }
                    i += 1;
                )*
                let _ = i;
                None
            }
        }

        $(
            impl From<$variant> for Op {
                fn from(o: $variant) -> Op { Op::$variant(o) }
            }
        )*
    };
}

define_ops! {
    // io
    Parameter, Constant, ResultOp, Convert,
    // binary element-wise
    Add, Subtract, Multiply, Divide, Maximum, Minimum, Power, SquaredDifference, FloorMod, Mod,
    Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual, LogicalAnd, LogicalOr, LogicalXor,
    // unary element-wise
    Relu, Sigmoid, Tanh, Exp, Log, Sqrt, Abs, Negative, Floor, Ceiling, Erf, Sign,
    Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh, LogicalNot,
    // parametrised activations
    Clamp, Elu, HSigmoid, HSwish, Mish, SoftPlus, Swish, Gelu, PRelu, Selu, SoftSign, HardSigmoid,
    // nn
    Convolution, GroupConvolution, MaxPool14, MaxPool8, MaxPool1, AvgPool, AvgPool16, Lrn, SoftMax8, SoftMax1, LogSoftmax,
    BatchNormInference, MatMul, Mvn, ConvolutionBackpropData, GroupConvolutionBackpropData,
    // reductions
    ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
    ReduceLogicalAnd, ReduceLogicalOr,
    // shape and data movement
    Reshape, Concat, Transpose, Unsqueeze, Squeeze, Broadcast, ShapeOf, ShapeOf1, Gather,
    ShuffleChannels, Select,
    // math
    Round, IsNaN, IsInf, IsFinite, BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot, CumSum, Einsum, Range,
    // opset9/10/15 additions (Eye, Unique, bit shifts)
    Eye, Unique, BitwiseLeftShift, BitwiseRightShift,
    // indexing
    TopK11, TopK3, GatherElements, GatherND, ScatterElementsUpdate, ScatterNDUpdate, NonZero, OneHot,
    // resize
    Interpolate,
    // vision
    GridSample, NonMaxSuppression,
    RoiAlign, DeformableConvolution,
    // signal
    Dft, Idft, Rdft, Irdft, Stft, Col2Im,
    // sub-graphs
    If, Loop, TensorIterator,
    // slicing
    StridedSlice, Slice, Tile, Split, VariadicSplit, Pad, DepthToSpace, SpaceToDepth, ReverseSequence,
    // recurrent
    RnnSequence, GruSequence, LstmSequence,
    // scatter reductions and training-mode Dropout (ScatterND reduction, Dropout families)
    ScatterNDUpdate15, RandomUniform,
    // own opset `onnx_ext1`: ONNX string ops and LabelEncoder
    StringNormalizer,
    StringConcat,
    StringSplit,
    RegexFullMatch,
    LabelEncoder,
}

/// The IR spellings OpenVINO's reader also accepts for a few renamed types.
fn canonical_type(type_name: &str) -> &str {
    match type_name {
        "Constant" => "Const",
        "Relu" => "ReLU",
        "Softmax" => "SoftMax",
        "Prelu" => "PReLU",
        other => other,
    }
}

/// Parses `opsetN` into N.
pub fn parse_opset(version: &str) -> Option<u32> {
    version.strip_prefix("opset")?.parse().ok()
}

/// Splits an IR `version` into its opset family and number: `opset8` -> (`opset`, 8),
/// `onnx_ext1` -> (`onnx_ext`, 1).
pub fn split_version(version: &str) -> Option<(&str, u32)> {
    let digits = version.len() - version.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (family, number) = version.split_at(version.len() - digits);
    if family.is_empty() {
        return None;
    }
    Some((family, number.parse().ok()?))
}

impl Op {
    /// Builds an op from an IR layer's `type`, `version` and `<data>` attributes.
    ///
    /// The newest definition of `type_name` whose defining opset is not above `version` is
    /// used, which is how OpenVINO resolves `version="opset8"` for an op defined in opset1.
    /// `None` means the type/version is unknown; `Some(Err)` means attributes failed to parse.
    pub fn from_ir(type_name: &str, version: &str, attrs: &HashMap<String, String>) -> Option<Result<Op, AttrError>> {
        let (family, opset) = split_version(version)?;
        let type_name = canonical_type(type_name);
        let best = Op::known_versions()
            .iter()
            .enumerate()
            .filter(|(_, (t, f, o))| *t == type_name && *f == family && *o <= opset)
            .max_by_key(|(_, (_, _, o))| *o)?;
        Op::build(best.0, attrs)
    }

    /// The IR `version` attribute (`opsetN`, or `onnx_extN` for our own ops).
    pub fn version(&self) -> String {
        format!("{}{}", self.opset_name(), self.opset())
    }
}

impl Op {
    /// The sub-graph bodies of an `If`, `Loop` or `TensorIterator` (empty for other ops).
    pub fn bodies(&self) -> Vec<&Body> {
        match self {
            Op::If(o) => vec![&o.then_body, &o.else_body],
            Op::Loop(o) => vec![&o.body],
            Op::TensorIterator(o) => vec![&o.body],
            _ => Vec::new(),
        }
    }
}
