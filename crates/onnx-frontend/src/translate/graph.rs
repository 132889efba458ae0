//! Whole-graph translation: inputs, initializers, node order, naming, outputs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;

use ir_graph::{Dim, ElementType, Model, OutputRef, PartialShape};

use super::sequence::{self, Sequence};
use super::{Lookup, NodeContext, Registry, canonical_domain, display_name};
use crate::ConvertOptions;
use crate::error::FrontendError;
use crate::load::{TensorLoader, element_type};
use crate::proto::{
    GraphProto, ModelProto, TensorProto, TypeProto, ValueInfoProto, tensor_shape_proto::dimension, type_proto,
};

/// Name of models read from a file, as OpenVINO's ONNX frontend names them.
pub const MODEL_NAME: &str = "onnx_Frontend_IR";

/// Where a value comes from before translation.
enum Source<'g> {
    Value(OutputRef),
    Initializer(&'g TensorProto),
    /// A sequence resolved at conversion time (IR has no sequence type).
    Sequence(Sequence),
}

/// A translated value: a tensor, or a sequence of tensors.
enum Val {
    Tensor(OutputRef),
    Sequence(Sequence),
}

struct GraphBuilder<'g> {
    model: Model,
    values: HashMap<&'g str, Source<'g>>,
    loader: &'g TensorLoader,
}

impl<'g> GraphBuilder<'g> {
    /// The producer of a tensor value, creating the Const of an initializer on first use;
    /// `what` says where a sequence was found instead, for the error.
    fn value(
        &mut self,
        name: &'g str,
        what: &dyn Fn(&str) -> FrontendError,
    ) -> Result<Option<OutputRef>, FrontendError> {
        match self.lookup(name)? {
            None => Ok(None),
            Some(Val::Tensor(o)) => Ok(Some(o)),
            Some(Val::Sequence(_)) => Err(what(name)),
        }
    }

    /// A value by name: a tensor (initializers become Consts on first use) or a sequence.
    fn lookup(&mut self, name: &'g str) -> Result<Option<Val>, FrontendError> {
        match self.values.get(name) {
            None => Ok(None),
            Some(Source::Value(o)) => Ok(Some(Val::Tensor(*o))),
            Some(Source::Sequence(s)) => Ok(Some(Val::Sequence(s.clone()))),
            Some(Source::Initializer(t)) => {
                let tensor = self.loader.tensor(t, name)?;
                let id = self.model.add_const(name, tensor)?;
                let out = OutputRef::from(id);
                self.model.port_mut(out)?.names.insert(name.to_string());
                self.values.insert(name, Source::Value(out));
                Ok(Some(Val::Tensor(out)))
            }
        }
    }
}

fn tensor_type(t: Option<&TypeProto>) -> Option<&type_proto::Tensor> {
    match t?.value.as_ref()? {
        type_proto::Value::TensorType(t) => Some(t),
        _ => None,
    }
}

/// The tensor type inside a top-level graph input declared `optional(tensor)`. IR has no
/// optional type; such an input becomes a plain (required) tensor Parameter, so inside the graph
/// it always holds an element.
pub(crate) fn optional_tensor_input(v: &ValueInfoProto) -> Option<&TypeProto> {
    match v.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::OptionalType(o) => {
            let elem = o.elem_type.as_deref()?;
            matches!(elem.value, Some(type_proto::Value::TensorType(_))).then_some(elem)
        }
        _ => None,
    }
}

/// A note per top-level graph input declared `optional(tensor)`, which becomes a required
/// tensor Parameter (see [`optional_tensor_input`]).
pub(crate) fn optional_input_notes(proto: &ModelProto) -> Vec<String> {
    let Some(graph) = proto.graph.as_ref() else { return Vec::new() };
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name()).collect();
    graph
        .input
        .iter()
        .filter(|v| !initializers.contains(v.name()) && optional_tensor_input(v).is_some())
        .map(|v| {
            format!(
                "graph input '{}' is optional(tensor): IR has no optional type, so it became a required tensor \
                 input (it must be fed a tensor; OptionalHasElement on it is true)",
                v.name()
            )
        })
        .collect()
}

/// Declared element type and shape of a graph input (missing dims and `dim_param` -> dynamic).
fn declared(v: &ValueInfoProto) -> Result<(ElementType, PartialShape), String> {
    declared_type(v.r#type.as_ref())
}

/// [`declared`] of a type.
fn declared_type(ty: Option<&TypeProto>) -> Result<(ElementType, PartialShape), String> {
    let Some(t) = tensor_type(ty) else {
        if let Some(type_proto::Value::SequenceType(_)) = ty.and_then(|t| t.value.as_ref()) {
            return Err(sequence::INTERFACE_MESSAGE.into());
        }
        if ty.is_some_and(|t| t.value.is_some()) {
            return Err("only tensor inputs are supported (not sequences, maps or optionals)".into());
        }
        return Ok((ElementType::Dynamic, PartialShape::DynamicRank));
    };
    let et = match t.elem_type {
        Some(e) => element_type(e)?,
        None => ElementType::Dynamic,
    };
    let shape = match &t.shape {
        None => PartialShape::DynamicRank,
        Some(s) => PartialShape::Ranked(
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(dimension::Value::DimValue(n)) if n >= 0 => Dim::fixed(n as u64),
                    _ => Dim::DYNAMIC,
                })
                .collect(),
        ),
    };
    Ok((et, shape))
}

/// Orders nodes so every producer precedes its consumers (stable: keeps file order when valid).
fn topological_nodes<'g>(
    graph: &'g GraphProto,
    outer: &HashSet<&'g str>,
    invalid: &dyn Fn(String) -> FrontendError,
) -> Result<Vec<usize>, FrontendError> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if outer.contains(o.as_str()) {
                return Err(invalid(format!(
                    "node '{}' produces '{o}', which is already a graph input or initializer",
                    display_name(n)
                )));
            }
            if let Some(&j) = producer.get(o.as_str()) {
                return Err(invalid(format!(
                    "tensor '{o}' is produced by two nodes: '{}' and '{}'",
                    display_name(&graph.node[j]),
                    display_name(n)
                )));
            }
            producer.insert(o, i);
        }
    }
    let n = graph.node.len();
    let mut indegree = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in graph.node.iter().enumerate() {
        let implicit = node_free_names(node);
        for inp in node.input.iter().map(String::as_str).filter(|s| !s.is_empty()).chain(implicit) {
            match producer.get(inp) {
                Some(&p) => {
                    indegree[i] += 1;
                    users[p].push(i);
                }
                None if outer.contains(inp) => {}
                None => {
                    return Err(invalid(format!(
                        "input '{inp}' of node '{}' ({}) is not a graph input, an initializer or any node's output",
                        display_name(node),
                        node.op_type()
                    )));
                }
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &u in &users[i] {
            indegree[u] -= 1;
            if indegree[u] == 0 {
                ready.push(Reverse(u));
            }
        }
    }
    if order.len() != n {
        let stuck: Vec<String> = (0..n)
            .filter(|&i| indegree[i] > 0)
            .take(5)
            .map(|i| format!("'{}'", display_name(&graph.node[i])))
            .collect();
        return Err(invalid(format!("the graph has a cycle through nodes {}", stuck.join(", "))));
    }
    Ok(order)
}

/// Translates a decoded model into an IR [`Model`] (no passes applied).
pub(crate) fn translate_model(
    proto: &ModelProto,
    file: &Path,
    loader: &TensorLoader,
    options: &ConvertOptions,
    registry: &Registry,
) -> Result<Model, FrontendError> {
    let invalid = |m: String| FrontendError::InvalidModel { file: file.to_path_buf(), message: m };
    let graph = proto.graph.as_ref().ok_or_else(|| invalid("the model has no graph".into()))?;
    if proto.opset_import.is_empty() {
        return Err(invalid("the model has no opset import".into()));
    }
    let mut opsets: HashMap<&str, i64> = HashMap::new();
    for o in &proto.opset_import {
        opsets.insert(canonical_domain(o.domain()), o.version());
    }
    if !graph.sparse_initializer.is_empty() {
        return Err(invalid("sparse initializers are not supported".into()));
    }

    let mut b = GraphBuilder { model: Model::new(MODEL_NAME), values: HashMap::new(), loader };
    let mut outer: HashSet<&str> = HashSet::new();
    for t in &graph.initializer {
        if t.name().is_empty() {
            return Err(invalid("an initializer has no name".into()));
        }
        if b.values.insert(t.name(), Source::Initializer(t)).is_some() {
            return Err(invalid(format!("initializer '{}' is defined twice", t.name())));
        }
        outer.insert(t.name());
    }

    // Parameters: graph inputs that are not initializers (old models list every initializer).
    let params: Vec<&ValueInfoProto> = graph.input.iter().filter(|v| !b.values.contains_key(v.name())).collect();
    let mut overrides: HashMap<usize, PartialShape> = HashMap::new();
    let mut positional = 0usize;
    for (name, shape) in &options.input_shapes {
        let idx = match name {
            Some(n) => params.iter().position(|v| v.name() == n).ok_or_else(|| {
                let names: Vec<&str> = params.iter().map(|v| v.name()).collect();
                FrontendError::Option(format!("the model has no input '{n}' (inputs: {})", names.join(", ")))
            })?,
            None => {
                let i = positional;
                positional += 1;
                if i >= params.len() {
                    return Err(FrontendError::Option(format!(
                        "{} input shapes given but the model has {} inputs",
                        i + 1,
                        params.len()
                    )));
                }
                i
            }
        };
        overrides.insert(idx, shape.clone());
    }
    for (i, v) in params.iter().enumerate() {
        let name = v.name();
        if name.is_empty() {
            return Err(invalid("a graph input has no name".into()));
        }
        let ty = optional_tensor_input(v).or(v.r#type.as_ref());
        let (et, declared_shape) = declared_type(ty).map_err(|m| invalid(format!("graph input '{name}': {m}")))?;
        let shape = overrides.remove(&i).unwrap_or(declared_shape);
        if b.values.contains_key(name) {
            return Err(invalid(format!("graph input '{name}' is listed twice")));
        }
        let id = b.model.add_parameter(name, et, shape)?;
        let out = OutputRef::from(id);
        b.model.port_mut(out)?.names.insert(name.to_string());
        b.values.insert(name, Source::Value(out));
        outer.insert(name);
    }

    let env = Env { opsets: opsets.iter().map(|(k, v)| (k.to_string(), *v)).collect(), registry, loader, file };
    translate_nodes(&mut b, graph, &outer, &env)?;

    // Results.
    let declared_outputs: Vec<&str> = graph.output.iter().map(|o| o.name()).collect();
    let selected: Vec<&str> = if options.outputs.is_empty() {
        declared_outputs.clone()
    } else {
        options
            .outputs
            .iter()
            .map(|o| {
                // A declared output, or any tensor the graph computes (cutting the model there,
                // as `ovc --output` does).
                declared_outputs
                    .iter()
                    .find(|d| **d == o.as_str())
                    .copied()
                    .or_else(|| b.values.get_key_value(o.as_str()).map(|(k, _)| *k))
                    .ok_or_else(|| {
                        FrontendError::Option(format!(
                            "the model has no output '{o}' and computes no tensor of that name (outputs: {})",
                            declared_outputs.join(", ")
                        ))
                    })
            })
            .collect::<Result<_, _>>()?
    };
    let seq_out = |n: &str| invalid(format!("graph output '{n}' is a sequence: {}", sequence::INTERFACE_MESSAGE));
    for name in selected {
        let out =
            b.value(name, &seq_out)?.ok_or_else(|| invalid(format!("graph output '{name}' is never produced")))?;
        b.model.add_result(&format!("{name}/sink_port_0"), out)?;
    }
    Ok(b.model)
}

/// Names the IR nodes a translator created and attaches ONNX tensor names to their ports.
///
/// Mirrors OpenVINO: a node producing an output gets the ONNX node's name (suffixed with the
/// output name when outputs come from different nodes), or the output name when the ONNX node is
/// unnamed. Nodes that existed before (pass-through translators like Identity) keep their name.
fn name_outputs(
    model: &mut Model,
    node: &crate::proto::NodeProto,
    outs: &[OutputRef],
    seq_outs: &[Option<Sequence>],
    first_new: usize,
) -> Result<(), FrontendError> {
    let common = outs.windows(2).all(|w| w[0].node == w[1].node);
    for (k, (onnx_name, &out)) in node.output.iter().zip(outs).enumerate() {
        // A sequence output has no IR port of its own.
        if onnx_name.is_empty() || seq_outs.get(k).is_some_and(Option::is_some) {
            continue;
        }
        if out.node.0 as usize >= first_new {
            let friendly = if node.name().is_empty() {
                onnx_name.clone()
            } else if common {
                node.name().to_string()
            } else {
                format!("{}_{onnx_name}", node.name())
            };
            model.node_mut(out.node)?.name = friendly;
        }
        model.port_mut(out)?.names.insert(onnx_name.clone());
    }
    Ok(())
}

/// What every graph of one model shares while it is translated: opsets, translators, tensors.
pub(crate) struct Env<'e> {
    pub(crate) opsets: HashMap<String, i64>,
    pub(crate) registry: &'e Registry,
    pub(crate) loader: &'e TensorLoader,
    pub(crate) file: &'e Path,
}

impl Env<'_> {
    fn invalid(&self, m: String) -> FrontendError {
        FrontendError::InvalidModel { file: self.file.to_path_buf(), message: m }
    }
}

/// Names a graph reads from enclosing graphs: read by its nodes (or its sub-graphs' nodes)
/// and defined by none of its inputs, initializers or nodes. In first-use order.
pub(crate) fn free_names(graph: &GraphProto) -> Vec<&str> {
    let mut defined: HashSet<&str> = HashSet::new();
    defined.extend(graph.input.iter().map(|v| v.name()));
    defined.extend(graph.initializer.iter().map(|t| t.name()));
    for n in &graph.node {
        defined.extend(n.output.iter().map(String::as_str));
    }
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for n in &graph.node {
        let names = n.input.iter().map(String::as_str).filter(|s| !s.is_empty()).chain(node_free_names(n));
        for name in names {
            if !defined.contains(name) && seen.insert(name) {
                out.push(name);
            }
        }
    }
    for o in &graph.output {
        if !defined.contains(o.name()) && seen.insert(o.name()) {
            out.push(o.name());
        }
    }
    out
}

/// Free names of the sub-graphs held in a node's attributes.
pub(crate) fn node_free_names(node: &crate::proto::NodeProto) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for a in &node.attribute {
        for g in a.g.iter().chain(&a.graphs) {
            for name in free_names(g) {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// Translates the nodes of `graph` in dependency order into `b`.
fn translate_nodes<'g>(
    b: &mut GraphBuilder<'g>,
    graph: &'g GraphProto,
    outer: &HashSet<&'g str>,
    env: &Env<'_>,
) -> Result<(), FrontendError> {
    let invalid = |m: String| env.invalid(m);
    let opsets = &env.opsets;
    let registry = env.registry;
    let loader = env.loader;
    let order = topological_nodes(graph, outer, &invalid)?;

    // Which tensors are read (by a node or as a model output), to skip unused optional outputs.
    let mut used: HashSet<&str> = graph.output.iter().map(|o| o.name()).collect();
    for n in &graph.node {
        used.extend(n.input.iter().map(String::as_str));
        used.extend(node_free_names(n));
    }

    for &i in &order {
        let node = &graph.node[i];
        let domain = canonical_domain(node.domain());
        let opset = *opsets.get(domain).ok_or_else(|| {
            invalid(format!(
                "node '{}' ({}) uses domain '{domain}', which the model does not import (missing opset import)",
                display_name(node),
                node.op_type()
            ))
        })?;
        let translator = registry.find(domain, node.op_type(), opset).map_err(|l| FrontendError::UnsupportedOp {
            op: node.op_type().to_string(),
            domain: domain.to_string(),
            opset,
            node: display_name(node),
            hint: match l {
                Lookup::Unknown => String::new(),
                Lookup::TooOld(v) => format!(" (the oldest supported version is {v})"),
            },
        })?;
        let mut inputs = Vec::with_capacity(node.input.len());
        let mut seq_inputs = Vec::with_capacity(node.input.len());
        for name in &node.input {
            if name.is_empty() {
                inputs.push(None);
                seq_inputs.push(None);
                continue;
            }
            match b.lookup(name)?.ok_or_else(|| invalid(format!("input '{name}' is undefined")))? {
                Val::Tensor(v) => {
                    inputs.push(Some(v));
                    seq_inputs.push(None);
                }
                Val::Sequence(s) if sequence::reads_sequences(domain, node.op_type()) => {
                    inputs.push(None);
                    seq_inputs.push(Some(s));
                }
                Val::Sequence(_) => {
                    return Err(FrontendError::Node {
                        node: display_name(node),
                        op: node.op_type().to_string(),
                        domain: domain.to_string(),
                        opset,
                        message: format!("input '{name}' is a sequence, which this op does not take"),
                    });
                }
            }
        }
        let mut outer_values = HashMap::new();
        let mut outer_sequences = HashMap::new();
        for name in node_free_names(node) {
            match b.lookup(name)? {
                Some(Val::Tensor(v)) => {
                    outer_values.insert(name.to_string(), v);
                }
                Some(Val::Sequence(s)) => {
                    outer_sequences.insert(name.to_string(), s);
                }
                None => {
                    return Err(invalid(format!(
                        "'{name}', read inside a sub-graph of node '{}', is undefined",
                        display_name(node)
                    )));
                }
            }
        }
        let outputs_used: Vec<bool> = node.output.iter().map(|o| !o.is_empty() && used.contains(o.as_str())).collect();
        let first_new = b.model.node_count();
        let (outs, seq_outs) = {
            let mut ctx = NodeContext::new(&mut b.model, node, inputs, outputs_used, opset, loader);
            ctx.set_scope(env, outer_values, outer_sequences);
            ctx.set_sequence_inputs(seq_inputs);
            let outs = translator(&mut ctx)?;
            (outs, ctx.take_sequence_outputs())
        };
        name_outputs(&mut b.model, node, &outs, &seq_outs, first_new)?;
        for (k, o) in node.output.iter().enumerate() {
            if o.is_empty() {
                continue;
            }
            if let Some(Some(seq)) = seq_outs.get(k) {
                b.values.insert(o, Source::Sequence(seq.clone()));
                continue;
            }
            match outs.get(k) {
                Some(&out) => {
                    b.values.insert(o, Source::Value(out));
                }
                None if used.contains(o.as_str()) => {
                    return Err(FrontendError::Node {
                        node: display_name(node),
                        op: node.op_type().to_string(),
                        domain: domain.to_string(),
                        opset,
                        message: format!("output {k} ('{o}') is used but this conversion does not produce it"),
                    });
                }
                None => {}
            }
        }
    }

    Ok(())
}

/// What a sub-graph reads from an enclosing graph.
pub(crate) enum OuterKind {
    /// A tensor of this type and shape.
    Tensor(ElementType, PartialShape),
    /// A sequence of this element type, with the type and shape of each element.
    Sequence(ElementType, Vec<(ElementType, PartialShape)>),
}

/// Per output of a sub-graph: `None` for a tensor, else the length and element type of a
/// sequence (whose elements are consecutive Results).
pub(crate) type Layout = Vec<Option<(usize, ElementType)>>;

/// Translates a sub-graph into its own model. Its Parameters are the graph's inputs (typed by
/// `formal` where given, else as declared), then one per name in `outer` (values of enclosing
/// graphs the body reads; one per element of a sequence); its Results are the graph's outputs
/// (one per element of a sequence output), laid out as the returned [`Layout`] says.
pub(crate) fn translate_body<'g>(
    env: &Env<'_>,
    graph: &'g GraphProto,
    formal: &[Option<(ElementType, PartialShape)>],
    outer: &[(&'g str, OuterKind)],
) -> Result<(Model, Layout), FrontendError> {
    let invalid = |m: String| env.invalid(m);
    if !graph.sparse_initializer.is_empty() {
        return Err(invalid("sparse initializers are not supported".into()));
    }
    let mut b = GraphBuilder { model: Model::new(graph.name()), values: HashMap::new(), loader: env.loader };
    let mut defined: HashSet<&str> = HashSet::new();
    for t in &graph.initializer {
        if b.values.insert(t.name(), Source::Initializer(t)).is_some() {
            return Err(invalid(format!(
                "initializer '{}' of sub-graph '{}' is defined twice",
                t.name(),
                graph.name()
            )));
        }
        defined.insert(t.name());
    }
    let inputs: Vec<&ValueInfoProto> = graph.input.iter().filter(|v| !b.values.contains_key(v.name())).collect();
    for (i, v) in inputs.iter().enumerate() {
        let name = v.name();
        let (et, shape) = match formal.get(i).cloned().flatten() {
            Some(t) => t,
            None => declared(v).map_err(|m| invalid(format!("sub-graph '{}' input '{name}': {m}", graph.name())))?,
        };
        if b.values.contains_key(name) {
            return Err(invalid(format!("sub-graph '{}' lists input '{name}' twice", graph.name())));
        }
        let id = b.model.add_parameter(name, et, shape)?;
        let out = OutputRef::from(id);
        b.model.port_mut(out)?.names.insert(name.to_string());
        b.values.insert(name, Source::Value(out));
        defined.insert(name);
    }
    for (name, kind) in outer {
        match kind {
            OuterKind::Tensor(et, shape) => {
                let id = b.model.add_parameter(name, *et, shape.clone())?;
                let out = OutputRef::from(id);
                b.model.port_mut(out)?.names.insert(name.to_string());
                b.values.insert(name, Source::Value(out));
            }
            OuterKind::Sequence(elem_type, elements) => {
                let mut refs = Vec::with_capacity(elements.len());
                for (k, (et, shape)) in elements.iter().enumerate() {
                    let id = b.model.add_parameter(&format!("{name}/{k}"), *et, shape.clone())?;
                    refs.push(OutputRef::from(id));
                }
                b.values.insert(name, Source::Sequence(Sequence { elements: refs, elem_type: *elem_type }));
            }
        }
        defined.insert(name);
    }
    translate_nodes(&mut b, graph, &defined, env)?;
    let mut layout = Vec::with_capacity(graph.output.len());
    for o in &graph.output {
        let name = o.name();
        let v = b
            .lookup(name)?
            .ok_or_else(|| invalid(format!("output '{name}' of sub-graph '{}' is never produced", graph.name())))?;
        match v {
            Val::Tensor(out) => {
                b.model.add_result(&format!("{name}/sink_port_0"), out)?;
                layout.push(None);
            }
            Val::Sequence(s) => {
                for (k, &e) in s.elements.iter().enumerate() {
                    b.model.add_result(&format!("{name}/{k}/sink_port_0"), e)?;
                }
                layout.push(Some((s.elements.len(), s.elem_type)));
            }
        }
    }
    Ok((b.model, layout))
}
