//! Translation of ONNX nodes into the OpenVINO op set.
//!
//! A [`Registry`] maps (domain, op_type) to translators, one per `since_version`; the newest
//! `since_version` not above the model's opset import for the domain is used, exactly as
//! OpenVINO's ONNX frontend resolves them. A translator sees the node through a
//! [`NodeContext`]: typed attributes with defaults, inputs as [`OutputRef`]s (optional inputs
//! as `None`), constant values of inputs, and helpers to add IR nodes.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ir_graph::{ElementType, GraphError, Model, NodeId, Op, OutputRef, PartialShape, Tensor};

use crate::error::FrontendError;
use crate::load::TensorLoader;
use crate::proto::{AttributeProto, NodeProto, attribute_proto::AttributeType};

mod attention;
mod bitcast_float;
mod bits;
mod col2im_nd;
mod control;
mod deconv;
mod elementwise;
mod flex_attention;
pub(crate) mod graph;
mod grid_sample_3d;
mod indexing;
mod loss;
mod lstm_peephole;
mod math;
mod ml;
mod nn;
mod norm;
mod optional;
mod reduce;
mod resize;
mod rnn;
pub(crate) mod sequence;
mod shape;
mod signal;
mod slicing;
mod strings;
mod tfidf;
mod training;
mod tree;
mod vision;
// Low-precision types: QuantizeLinear / DequantizeLinear.
mod quantize;
// QLinearMatMul / QLinearConv / DynamicQuantizeLinear.
mod qlinear;
mod random;

/// The ONNX default domain's canonical name.
pub const DEFAULT_DOMAIN: &str = "ai.onnx";

/// Canonical domain name: `""` and `ai.onnx` are the same domain.
pub fn canonical_domain(domain: &str) -> &str {
    if domain.is_empty() { DEFAULT_DOMAIN } else { domain }
}

/// A translator: reads one ONNX node through its context and returns the IR outputs that stand
/// for the node's outputs, in order (trailing outputs that are not produced may be left off).
pub type Translator = fn(&mut NodeContext<'_>) -> Result<Vec<OutputRef>, FrontendError>;

/// Translators by (domain, op_type), each a list of (since_version, translator).
pub struct Registry {
    map: BTreeMap<(String, String), Vec<(i64, Translator)>>,
}

/// Why a lookup failed.
pub enum Lookup {
    /// No translator for this (domain, op) at all.
    Unknown,
    /// Translators exist, but all for newer opsets; carries the oldest registered version.
    TooOld(i64),
}

impl Registry {
    /// An empty registry.
    pub fn empty() -> Registry {
        Registry { map: BTreeMap::new() }
    }

    /// Registers `f` for `op` in `domain` from opset `since` on.
    pub fn register(&mut self, domain: &str, op: &str, since: &[i64], f: Translator) {
        let entry = self.map.entry((canonical_domain(domain).to_string(), op.to_string())).or_default();
        for &v in since {
            entry.retain(|(s, _)| *s != v);
            entry.push((v, f));
        }
        entry.sort_by_key(|(s, _)| *s);
    }

    /// The registry with every translator of this crate.
    pub fn standard() -> &'static Registry {
        static REG: OnceLock<Registry> = OnceLock::new();
        REG.get_or_init(|| {
            let mut r = Registry::empty();
            elementwise::register(&mut r);
            nn::register(&mut r);
            reduce::register(&mut r);
            shape::register(&mut r);
            slicing::register(&mut r);
            math::register(&mut r);
            indexing::register(&mut r);
            loss::register(&mut r);
            norm::register(&mut r);
            resize::register(&mut r);
            deconv::register(&mut r);
            vision::register(&mut r);
            bits::register(&mut r);
            signal::register(&mut r);
            attention::register(&mut r);
            flex_attention::register(&mut r);
            control::register(&mut r);
            rnn::register(&mut r);
            ml::register(&mut r);
            optional::register(&mut r);
            random::register(&mut r);
            sequence::register(&mut r);
            strings::register(&mut r);
            // Low-precision types: QuantizeLinear / DequantizeLinear.
            quantize::register(&mut r);
            qlinear::register(&mut r);
            training::register(&mut r);
            tree::register(&mut r);
            tfidf::register(&mut r);
            r
        })
    }

    /// The translator for `op` in `domain` at `opset`: the newest `since_version <= opset`.
    pub fn find(&self, domain: &str, op: &str, opset: i64) -> Result<Translator, Lookup> {
        let versions = self.map.get(&(canonical_domain(domain).to_string(), op.to_string())).ok_or(Lookup::Unknown)?;
        versions
            .iter()
            .rev()
            .find(|(s, _)| *s <= opset)
            .map(|(_, f)| *f)
            .ok_or_else(|| Lookup::TooOld(versions.first().map_or(0, |(s, _)| *s)))
    }

    /// Every (domain, op, since-versions) entry, sorted by domain then op.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, Vec<i64>)> {
        self.map.iter().map(|((d, o), v)| (d.as_str(), o.as_str(), v.iter().map(|(s, _)| *s).collect()))
    }
}

/// What a translator sees of one ONNX node, and how it adds IR nodes.
pub struct NodeContext<'a> {
    model: &'a mut Model,
    node: &'a NodeProto,
    inputs: Vec<Option<OutputRef>>,
    outputs_used: Vec<bool>,
    opset: i64,
    domain: &'a str,
    name: String,
    loader: &'a TensorLoader,
    env: Option<&'a graph::Env<'a>>,
    outer_values: std::collections::HashMap<String, OutputRef>,
    outer_sequences: std::collections::HashMap<String, sequence::Sequence>,
    seq_inputs: Vec<Option<sequence::Sequence>>,
    seq_outputs: Vec<Option<sequence::Sequence>>,
}

impl<'a> NodeContext<'a> {
    /// Lets the node translate its sub-graphs: `outer_values` and `outer_sequences` are the
    /// enclosing graphs' values the sub-graphs read.
    pub(crate) fn set_scope(
        &mut self,
        env: &'a graph::Env<'a>,
        outer_values: std::collections::HashMap<String, OutputRef>,
        outer_sequences: std::collections::HashMap<String, sequence::Sequence>,
    ) {
        self.env = Some(env);
        self.outer_values = outer_values;
        self.outer_sequences = outer_sequences;
    }

    /// Translates the graph attribute `attr` into a body model whose first Parameters are the
    /// graph's inputs (typed by `formal` where given) and whose remaining Parameters stand for
    /// values of enclosing graphs; returns the model and those outer values, in order.
    pub fn body(
        &self,
        attr: &str,
        formal: &[Option<(ElementType, PartialShape)>],
    ) -> Result<(Model, Vec<OutputRef>), FrontendError> {
        let (m, refs, layout) = self.body_with_sequences(attr, formal)?;
        if let Some(k) = layout.iter().position(Option::is_some) {
            return Err(self.error(format!(
                "output {k} of sub-graph '{attr}' is a sequence, which {} cannot return",
                self.op_type()
            )));
        }
        Ok((m, refs))
    }

    /// Like [`NodeContext::body`], where outer sequences become one Parameter per element and
    /// a sequence output becomes one Result per element: the layout gives, per graph output,
    /// `None` for a tensor or the length and element type of a sequence.
    pub(crate) fn body_with_sequences(
        &self,
        attr: &str,
        formal: &[Option<(ElementType, PartialShape)>],
    ) -> Result<(Model, Vec<OutputRef>, graph::Layout), FrontendError> {
        let a = self.attr(attr).ok_or_else(|| self.error(format!("attribute '{attr}' is required")))?;
        self.check_kind(a, AttributeType::Graph)?;
        let g = a.g.as_ref().ok_or_else(|| self.error(format!("attribute '{attr}' holds no graph")))?;
        let env = self.env.ok_or_else(|| self.error("sub-graphs cannot be translated in this context"))?;
        let mut outer = Vec::new();
        let mut refs = Vec::new();
        let typed = |o: OutputRef| -> Result<(ElementType, PartialShape), FrontendError> {
            let p = self.model.port(o).map_err(|e| self.graph_error(e))?;
            Ok((p.element_type, p.shape.clone()))
        };
        for name in graph::free_names(g) {
            if let Some(seq) = self.outer_sequences.get(name) {
                let elements = seq.elements.iter().map(|&e| typed(e)).collect::<Result<_, _>>()?;
                outer.push((name, graph::OuterKind::Sequence(seq.elem_type, elements)));
                refs.extend(&seq.elements);
                continue;
            }
            let o = *self
                .outer_values
                .get(name)
                .ok_or_else(|| self.error(format!("'{name}', read in sub-graph '{attr}', is undefined")))?;
            let (et, shape) = typed(o)?;
            outer.push((name, graph::OuterKind::Tensor(et, shape)));
            refs.push(o);
        }
        let (mut m, layout) = graph::translate_body(env, g, formal, &outer)?;
        ir_graph::passes::standard_pipeline(&mut m).map_err(|e| self.graph_error(e))?;
        Ok((m, refs, layout))
    }
    /// A context for `node`; `inputs` are resolved producers (`None` for empty optional inputs).
    pub(crate) fn new(
        model: &'a mut Model,
        node: &'a NodeProto,
        inputs: Vec<Option<OutputRef>>,
        outputs_used: Vec<bool>,
        opset: i64,
        loader: &'a TensorLoader,
    ) -> NodeContext<'a> {
        NodeContext {
            model,
            domain: canonical_domain(node.domain()),
            node,
            inputs,
            outputs_used,
            opset,
            name: display_name(node),
            loader,
            env: None,
            outer_values: std::collections::HashMap::new(),
            outer_sequences: std::collections::HashMap::new(),
            seq_inputs: Vec::new(),
            seq_outputs: Vec::new(),
        }
    }

    /// Tells which inputs are sequences (their tensor input is `None`).
    pub(crate) fn set_sequence_inputs(&mut self, seqs: Vec<Option<sequence::Sequence>>) {
        self.seq_inputs = seqs;
    }

    /// Input `i` as a sequence, or an error when it is a tensor or absent.
    pub(crate) fn sequence_input(&self, i: usize) -> Result<sequence::Sequence, FrontendError> {
        self.seq_inputs.get(i).cloned().flatten().ok_or_else(|| self.error(format!("input {i} must be a sequence")))
    }

    /// Input `i` as a sequence when it is one.
    pub(crate) fn opt_sequence_input(&self, i: usize) -> Option<sequence::Sequence> {
        self.seq_inputs.get(i).cloned().flatten()
    }

    /// Makes output `k` of the node a sequence (the translator's tensor output `k`, if any, is
    /// ignored).
    pub(crate) fn set_sequence_output(&mut self, k: usize, seq: sequence::Sequence) {
        if self.seq_outputs.len() <= k {
            self.seq_outputs.resize(k + 1, None);
        }
        self.seq_outputs[k] = Some(seq);
    }

    /// The sequence outputs the translator set, by output index.
    pub(crate) fn take_sequence_outputs(&mut self) -> Vec<Option<sequence::Sequence>> {
        std::mem::take(&mut self.seq_outputs)
    }

    /// The opset version in force for the node's domain.
    pub fn opset(&self) -> i64 {
        self.opset
    }

    /// The ONNX op type.
    pub fn op_type(&self) -> &str {
        self.node.op_type()
    }

    /// The node's name for messages (ONNX name, else first output name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model being built (for reading ports of inputs).
    pub fn model(&self) -> &Model {
        self.model
    }

    /// An error about this node.
    pub fn error(&self, message: impl Into<String>) -> FrontendError {
        FrontendError::Node {
            node: self.name.clone(),
            op: self.op_type().to_string(),
            domain: self.domain.to_string(),
            opset: self.opset,
            message: message.into(),
        }
    }

    fn graph_error(&self, e: GraphError) -> FrontendError {
        self.error(e.to_string())
    }

    // ----- inputs -----

    /// Number of inputs listed on the node (empty optional ones included).
    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }

    /// Input `i`, which must be present.
    pub fn input(&self, i: usize) -> Result<OutputRef, FrontendError> {
        self.opt_input(i).ok_or_else(|| self.error(format!("input {i} is required")))
    }

    /// Input `i` when given (absent or named `""` gives `None`).
    pub fn opt_input(&self, i: usize) -> Option<OutputRef> {
        self.inputs.get(i).copied().flatten()
    }

    /// Every given input, in order, skipping empty optional ones.
    pub fn present_inputs(&self) -> Vec<OutputRef> {
        self.inputs.iter().flatten().copied().collect()
    }

    /// Constant value of input `i`, when given and produced by a Const.
    pub fn const_input(&self, i: usize) -> Option<Tensor> {
        self.opt_input(i).and_then(|o| self.model.const_value(o).cloned())
    }

    /// Element type of an output.
    pub fn element_type(&self, o: OutputRef) -> ElementType {
        self.model.port(o).map(|p| p.element_type).unwrap_or(ElementType::Dynamic)
    }

    /// Shape of an output.
    pub fn shape(&self, o: OutputRef) -> PartialShape {
        self.model.port(o).map(|p| p.shape.clone()).unwrap_or(PartialShape::DynamicRank)
    }

    /// Rank of an output, or an error when it is dynamic (`why` says what needs it).
    pub fn static_rank(&self, o: OutputRef, why: &str) -> Result<usize, FrontendError> {
        self.shape(o).rank().ok_or_else(|| self.error(format!("{why} needs an input of known rank")))
    }

    /// Whether output `i` of the node is consumed by another node or is a model output.
    pub fn output_used(&self, i: usize) -> bool {
        self.outputs_used.get(i).copied().unwrap_or(false)
    }

    /// Number of outputs the ONNX node declares.
    pub fn output_count(&self) -> usize {
        self.node.output.len()
    }

    // ----- attributes -----

    /// The raw attribute, when present.
    pub fn attr(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name() == name)
    }

    /// Whether the attribute is present.
    pub fn has_attr(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    fn check_kind(&self, a: &AttributeProto, want: AttributeType) -> Result<(), FrontendError> {
        // Old models (IR < 2) leave `type` unset: accept them by what is filled in.
        match a.r#type {
            None | Some(0) => match filled_kind(a) {
                Some(k) if k != want => Err(self.error(format!(
                    "attribute '{}' holds a {} value, expected {}",
                    a.name(),
                    k.as_str_name(),
                    want.as_str_name()
                ))),
                _ => Ok(()),
            },
            Some(t) if t == want as i32 => Ok(()),
            Some(t) => Err(self.error(format!(
                "attribute '{}' is of type {}, expected {}",
                a.name(),
                AttributeType::try_from(t).map(|t| t.as_str_name()).unwrap_or("?"),
                want.as_str_name()
            ))),
        }
    }

    /// An integer attribute, `default` when absent.
    pub fn attr_int(&self, name: &str, default: i64) -> Result<i64, FrontendError> {
        Ok(self.attr_int_opt(name)?.unwrap_or(default))
    }

    /// An integer attribute that may be absent.
    pub fn attr_int_opt(&self, name: &str) -> Result<Option<i64>, FrontendError> {
        let Some(a) = self.attr(name) else { return Ok(None) };
        self.check_kind(a, AttributeType::Int)?;
        Ok(Some(a.i()))
    }

    /// A required integer attribute.
    pub fn attr_int_req(&self, name: &str) -> Result<i64, FrontendError> {
        self.attr_int_opt(name)?.ok_or_else(|| self.error(format!("attribute '{name}' is required")))
    }

    /// A float attribute, `default` when absent.
    pub fn attr_float(&self, name: &str, default: f32) -> Result<f32, FrontendError> {
        let Some(a) = self.attr(name) else { return Ok(default) };
        self.check_kind(a, AttributeType::Float)?;
        Ok(a.f())
    }

    /// A string attribute, `default` when absent.
    pub fn attr_string(&self, name: &str, default: &str) -> Result<String, FrontendError> {
        let Some(a) = self.attr(name) else { return Ok(default.to_string()) };
        self.check_kind(a, AttributeType::String)?;
        Ok(a.s.as_ref().map(|s| String::from_utf8_lossy(s).into_owned()).unwrap_or_default())
    }

    /// An integer-list attribute that may be absent.
    pub fn attr_ints(&self, name: &str) -> Result<Option<Vec<i64>>, FrontendError> {
        let Some(a) = self.attr(name) else { return Ok(None) };
        self.check_kind(a, AttributeType::Ints)?;
        Ok(Some(a.ints.clone()))
    }

    /// A float-list attribute that may be absent.
    pub fn attr_floats(&self, name: &str) -> Result<Option<Vec<f32>>, FrontendError> {
        let Some(a) = self.attr(name) else { return Ok(None) };
        self.check_kind(a, AttributeType::Floats)?;
        Ok(Some(a.floats.clone()))
    }

    /// A string-list attribute that may be absent.
    pub fn attr_strings(&self, name: &str) -> Result<Option<Vec<String>>, FrontendError> {
        let Some(a) = self.attr(name) else { return Ok(None) };
        self.check_kind(a, AttributeType::Strings)?;
        Ok(Some(a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()))
    }

    /// A tensor attribute (as a constant value) that may be absent.
    pub fn attr_tensor(&self, name: &str) -> Result<Option<Tensor>, FrontendError> {
        let Some(a) = self.attr(name) else { return Ok(None) };
        self.check_kind(a, AttributeType::Tensor)?;
        let t = a.t.as_ref().ok_or_else(|| self.error(format!("attribute '{name}' holds no tensor")))?;
        let label = format!("{}.{name}", self.name);
        self.loader.tensor(t, &label).map(Some)
    }

    // ----- building -----

    /// Adds a helper node (named `<Type>_<n>`) and returns its output 0.
    pub fn add(&mut self, op: impl Into<Op>, inputs: &[OutputRef]) -> Result<OutputRef, FrontendError> {
        self.add_node(op, inputs).map(OutputRef::from)
    }

    /// Adds a helper node (named `<Type>_<n>`) and returns its id (for multi-output ops).
    pub fn add_node(&mut self, op: impl Into<Op>, inputs: &[OutputRef]) -> Result<NodeId, FrontendError> {
        let op = op.into();
        let name = self.model.fresh_name(op.type_name());
        self.model.add_node(op, &name, inputs).map_err(|e| self.graph_error(e))
    }

    /// Adds a constant helper node.
    pub fn constant(&mut self, value: Tensor) -> Result<OutputRef, FrontendError> {
        self.add(ir_graph::ops::Constant { value }, &[])
    }

    /// An i64 constant of the given shape.
    pub fn const_i64(&mut self, shape: &[usize], values: Vec<i64>) -> Result<OutputRef, FrontendError> {
        let t = Tensor::from_vec(shape.to_vec(), values).map_err(|e| self.graph_error(e))?;
        self.constant(t)
    }

    /// A 1-D i64 constant.
    pub fn const_vec(&mut self, values: &[i64]) -> Result<OutputRef, FrontendError> {
        self.const_i64(&[values.len()], values.to_vec())
    }

    /// A scalar constant of element type `et` holding `v` (converted).
    pub fn const_scalar(&mut self, et: ElementType, v: f64) -> Result<OutputRef, FrontendError> {
        let t = scalar_tensor(et, v).map_err(|m| self.error(m))?;
        self.constant(t)
    }
}

/// The kind of value an untyped attribute (IR < 2) holds, judged by its filled fields.
fn filled_kind(a: &AttributeProto) -> Option<AttributeType> {
    use AttributeType as T;
    [
        (a.i.is_some(), T::Int),
        (a.f.is_some(), T::Float),
        (a.s.is_some(), T::String),
        (a.t.is_some(), T::Tensor),
        (a.g.is_some(), T::Graph),
        (!a.ints.is_empty(), T::Ints),
        (!a.floats.is_empty(), T::Floats),
        (!a.strings.is_empty(), T::Strings),
        (!a.tensors.is_empty(), T::Tensors),
        (!a.graphs.is_empty(), T::Graphs),
    ]
    .into_iter()
    .find_map(|(filled, kind)| filled.then_some(kind))
}

/// The name OpenVINO uses for an ONNX node in messages: its name, else its first output.
pub(crate) fn display_name(node: &NodeProto) -> String {
    if !node.name().is_empty() {
        node.name().to_string()
    } else {
        node.output.iter().find(|o| !o.is_empty()).cloned().unwrap_or_else(|| format!("<unnamed {}>", node.op_type()))
    }
}

/// A scalar tensor of type `et` holding `v`, converted the way a C cast would.
pub fn scalar_tensor(et: ElementType, v: f64) -> Result<Tensor, String> {
    use ElementType as E;
    Ok(match et {
        E::F32 => Tensor::scalar(v as f32),
        E::F64 => Tensor::scalar(v),
        E::F16 => Tensor::scalar(half::f16::from_f64(v)),
        E::Bf16 => Tensor::scalar(half::bf16::from_f64(v)),
        E::I8 => Tensor::scalar(v as i8),
        E::I16 => Tensor::scalar(v as i16),
        E::I32 => Tensor::scalar(v as i32),
        E::I64 => Tensor::scalar(v as i64),
        E::U8 => Tensor::scalar(v as u8),
        E::U16 => Tensor::scalar(v as u16),
        E::U32 => Tensor::scalar(v as u32),
        E::U64 => Tensor::scalar(v as u64),
        E::Boolean => Tensor::from_bools(vec![], &[v != 0.0]).map_err(|e| e.to_string())?,
        other => return Err(format!("cannot make a {other} constant")),
    })
}
