//! The graph: nodes in an arena, edges as (producer, output index), parameters and results.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::element::ElementType;
use crate::error::{GraphError, Result};
use crate::ops::{Constant, InferInput, Op, OutputType, Parameter, ResultOp};
use crate::shape::PartialShape;
use crate::tensor::Tensor;

/// Index of a node in its model's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One output of one node: the source end of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutputRef {
    /// Producer.
    pub node: NodeId,
    /// Output index on the producer.
    pub index: u32,
}

impl OutputRef {
    /// Output `index` of `node`.
    pub fn new(node: NodeId, index: u32) -> OutputRef {
        OutputRef { node, index }
    }
}

impl From<NodeId> for OutputRef {
    /// Output 0 of a node.
    fn from(node: NodeId) -> OutputRef {
        OutputRef { node, index: 0 }
    }
}

/// A runtime attribute attached to a node or port (`<attribute name=".." version="0" k="v"/>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtAttribute {
    /// Attribute type name, e.g. `decompression`.
    pub name: String,
    /// Its version string, usually `0`.
    pub version: String,
    /// Extra key/value pairs.
    pub values: Vec<(String, String)>,
}

impl RtAttribute {
    /// An attribute with version `0` and no values.
    pub fn flag(name: &str) -> RtAttribute {
        RtAttribute { name: name.to_string(), version: "0".to_string(), values: Vec::new() }
    }
}

/// Model-level runtime info: a tree of string values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtValue {
    /// A leaf value.
    Str(String),
    /// A nested map, in insertion order.
    Map(Vec<(String, RtValue)>),
}

/// Type, shape and tensor names of one node output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputPort {
    /// Element type.
    pub element_type: ElementType,
    /// Shape.
    pub shape: PartialShape,
    /// Tensor names (kept sorted, as IR writes them).
    pub names: BTreeSet<String>,
    /// Port-level runtime info.
    pub rt_info: Vec<RtAttribute>,
}

/// A node: op, friendly name, inputs, and per-output info.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The operation.
    pub op: Op,
    /// Friendly name (the IR layer `name`).
    pub name: String,
    /// Producers of each input, in order.
    pub inputs: Vec<OutputRef>,
    /// Output ports.
    pub outputs: Vec<OutputPort>,
    /// Node-level runtime info.
    pub rt_info: Vec<RtAttribute>,
}

/// A model: an arena of nodes, with Parameters as inputs and Results as outputs.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Model friendly name (`<net name=...>`).
    pub name: String,
    nodes: Vec<Option<Node>>,
    parameters: Vec<NodeId>,
    results: Vec<NodeId>,
    /// Model-level runtime info.
    pub rt_info: Vec<(String, RtValue)>,
    name_counter: u64,
}

impl Model {
    /// An empty model.
    pub fn new(name: &str) -> Model {
        Model { name: name.to_string(), ..Model::default() }
    }

    /// Parameters in model input order.
    pub fn parameters(&self) -> &[NodeId] {
        &self.parameters
    }

    /// Results in model output order.
    pub fn results(&self) -> &[NodeId] {
        &self.results
    }

    /// Reorders or replaces the result list (every id must be a Result node).
    pub fn set_results(&mut self, results: Vec<NodeId>) -> Result<()> {
        for &r in &results {
            if !matches!(self.node(r)?.op, Op::ResultOp(_)) {
                return Err(GraphError::Structure(format!("{r} is not a Result")));
            }
        }
        self.results = results;
        Ok(())
    }

    /// Reorders or replaces the parameter list (every id must be a Parameter node).
    pub fn set_parameters(&mut self, params: Vec<NodeId>) -> Result<()> {
        for &p in &params {
            if !matches!(self.node(p)?.op, Op::Parameter(_)) {
                return Err(GraphError::Structure(format!("{p} is not a Parameter")));
            }
        }
        self.parameters = params;
        Ok(())
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> Result<&Node> {
        self.nodes
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| GraphError::Structure(format!("no node {id}")))
    }

    /// The node with this id, mutably.
    pub fn node_mut(&mut self, id: NodeId) -> Result<&mut Node> {
        self.nodes
            .get_mut(id.0 as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| GraphError::Structure(format!("no node {id}")))
    }

    /// Every live node with its id, in arena order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes.iter().enumerate().filter_map(|(i, n)| n.as_ref().map(|n| (NodeId(i as u32), n)))
    }

    /// Number of live nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_some()).count()
    }

    /// The port info of an output.
    pub fn port(&self, out: OutputRef) -> Result<&OutputPort> {
        let node = self.node(out.node)?;
        node.outputs.get(out.index as usize).ok_or_else(|| {
            GraphError::Structure(format!("{} '{}' has no output {}", node.op.type_name(), node.name, out.index))
        })
    }

    /// The port info of an output, mutably (to edit tensor names or rt_info).
    pub fn port_mut(&mut self, out: OutputRef) -> Result<&mut OutputPort> {
        let node = self.node_mut(out.node)?;
        let n = node.outputs.len();
        node.outputs
            .get_mut(out.index as usize)
            .ok_or_else(|| GraphError::Structure(format!("node has {n} outputs, asked for {}", out.index)))
    }

    /// The constant value of an output, when its producer is a Const.
    pub fn const_value(&self, out: OutputRef) -> Option<&Tensor> {
        match self.node(out.node).ok()?.op {
            Op::Constant(ref c) if out.index == 0 => Some(&c.value),
            _ => None,
        }
    }

    /// A fresh helper-node name `<Type>_<n>`, the way OpenVINO names nodes it creates.
    pub fn fresh_name(&mut self, type_name: &str) -> String {
        self.name_counter += 1;
        format!("{type_name}_{}", self.name_counter)
    }

    fn infer_node(&self, op: &Op, inputs: &[OutputRef], name: &str) -> Result<Vec<OutputType>> {
        let ports = inputs.iter().map(|&i| self.port(i)).collect::<Result<Vec<_>>>()?;
        let infer_inputs: Vec<InferInput<'_>> = inputs
            .iter()
            .zip(&ports)
            .map(|(&i, p)| InferInput { element_type: p.element_type, shape: &p.shape, value: self.const_value(i) })
            .collect();
        let types = op.infer(&infer_inputs).map_err(|e| match e {
            GraphError::Invalid(message) => {
                GraphError::Validation { op: op.type_name().to_string(), node: name.to_string(), message }
            }
            other => other,
        })?;
        // A static shape no memory can hold (a hostile or broken model) is refused here, so later
        // stages never size an allocation or an index from an overflowing element count.
        for (port, t) in types.iter().enumerate() {
            if let Some(dims) = t.shape.dims()
                && let Some(fixed) = dims.iter().map(|d| d.get()).collect::<Option<Vec<u64>>>()
            {
                let bits = t.element_type.bit_width().max(1) as u64;
                let total_bits = fixed.iter().try_fold(bits, |acc, &d| acc.checked_mul(d));
                if total_bits.is_none_or(|b| b / 8 > isize::MAX as u64) {
                    return Err(GraphError::Validation {
                        op: op.type_name().to_string(),
                        node: name.to_string(),
                        message: format!(
                            "output {port} would be a {} tensor of shape [{}]: more bytes than any address space holds",
                            t.element_type,
                            t.shape.to_ir_string()
                        ),
                    });
                }
            }
        }
        Ok(types)
    }

    /// Adds a node after validating and inferring its outputs.
    pub fn add_node(&mut self, op: impl Into<Op>, name: &str, inputs: &[OutputRef]) -> Result<NodeId> {
        let op = op.into();
        let types = self.infer_node(&op, inputs, name)?;
        let outputs = types
            .into_iter()
            .map(|t| OutputPort {
                element_type: t.element_type,
                shape: t.shape,
                names: BTreeSet::new(),
                rt_info: Vec::new(),
            })
            .collect();
        let id = NodeId(u32::try_from(self.nodes.len()).map_err(|_| GraphError::Structure("too many nodes".into()))?);
        let is_param = matches!(op, Op::Parameter(_));
        let is_result = matches!(op, Op::ResultOp(_));
        self.nodes.push(Some(Node {
            op,
            name: name.to_string(),
            inputs: inputs.to_vec(),
            outputs,
            rt_info: Vec::new(),
        }));
        if is_param {
            self.parameters.push(id);
        }
        if is_result {
            self.results.push(id);
        }
        Ok(id)
    }

    /// Adds a model input.
    pub fn add_parameter(&mut self, name: &str, element_type: ElementType, shape: PartialShape) -> Result<NodeId> {
        self.add_node(Parameter { shape, element_type }, name, &[])
    }

    /// Adds a constant.
    pub fn add_const(&mut self, name: &str, value: Tensor) -> Result<NodeId> {
        self.add_node(Constant { value }, name, &[])
    }

    /// Adds a model output fed by `input`.
    pub fn add_result(&mut self, name: &str, input: OutputRef) -> Result<NodeId> {
        self.add_node(ResultOp {}, name, &[input])
    }

    /// Removes a node; edges into it must already be gone (see [`Model::remove_dead_nodes`]).
    pub fn remove_node(&mut self, id: NodeId) {
        if let Some(slot) = self.nodes.get_mut(id.0 as usize) {
            *slot = None;
        }
        self.parameters.retain(|&p| p != id);
        self.results.retain(|&r| r != id);
    }

    /// Points every consumer of `old` at `new` instead. Result nodes keep their names.
    pub fn replace_uses(&mut self, old: OutputRef, new: OutputRef) {
        for n in self.nodes.iter_mut().flatten() {
            for i in &mut n.inputs {
                if *i == old {
                    *i = new;
                }
            }
        }
    }

    /// Consumers of every output: (consumer, input index).
    pub fn consumers(&self) -> HashMap<OutputRef, Vec<(NodeId, usize)>> {
        let mut map: HashMap<OutputRef, Vec<(NodeId, usize)>> = HashMap::new();
        for (id, n) in self.nodes() {
            for (k, &i) in n.inputs.iter().enumerate() {
                map.entry(i).or_default().push((id, k));
            }
        }
        map
    }

    /// All live nodes in a topological order; errors on cycles and dangling edges.
    pub fn topological_order(&self) -> Result<Vec<NodeId>> {
        let n = self.nodes.len();
        let mut indegree = vec![0usize; n];
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (id, node) in self.nodes() {
            for i in &node.inputs {
                let src = self.node(i.node).map_err(|_| {
                    GraphError::Structure(format!("'{}' reads from missing node {}", node.name, i.node))
                })?;
                if i.index as usize >= src.outputs.len() {
                    return Err(GraphError::Structure(format!(
                        "'{}' reads output {} of '{}', which has {}",
                        node.name,
                        i.index,
                        src.name,
                        src.outputs.len()
                    )));
                }
                indegree[id.0 as usize] += 1;
                users[i.node.0 as usize].push(id.0 as usize);
            }
        }
        let mut ready: Vec<usize> = (0..n).rev().filter(|&i| self.nodes[i].is_some() && indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop() {
            order.push(NodeId(i as u32));
            for &u in users[i].iter().rev() {
                indegree[u] -= 1;
                if indegree[u] == 0 {
                    ready.push(u);
                }
            }
        }
        if order.len() != self.node_count() {
            let stuck = self.nodes().find(|(id, _)| indegree[id.0 as usize] > 0).map(|(_, n)| n.name.clone());
            return Err(GraphError::Structure(format!(
                "the graph has a cycle through '{}'",
                stuck.unwrap_or_default()
            )));
        }
        Ok(order)
    }

    /// Re-runs type and shape inference over the whole graph in topological order.
    pub fn validate(&mut self) -> Result<()> {
        for id in self.topological_order()? {
            let node = self.node(id)?;
            let types = self.infer_node(&node.op, &node.inputs, &node.name)?;
            let node = self.node_mut(id)?;
            if types.len() != node.outputs.len() {
                node.outputs.resize(
                    types.len(),
                    OutputPort {
                        element_type: ElementType::Dynamic,
                        shape: PartialShape::DynamicRank,
                        names: BTreeSet::new(),
                        rt_info: Vec::new(),
                    },
                );
            }
            for (port, t) in node.outputs.iter_mut().zip(types) {
                port.element_type = t.element_type;
                port.shape = t.shape;
            }
        }
        Ok(())
    }

    /// Removes nodes no Result depends on (Parameters are kept: they are the model's interface).
    pub fn remove_dead_nodes(&mut self) -> usize {
        let mut live = vec![false; self.nodes.len()];
        let mut stack: Vec<NodeId> = self.results.clone();
        stack.extend(self.parameters.iter().copied());
        while let Some(id) = stack.pop() {
            let i = id.0 as usize;
            if i >= live.len() || live[i] {
                continue;
            }
            live[i] = true;
            if let Some(Some(n)) = self.nodes.get(i) {
                stack.extend(n.inputs.iter().map(|o| o.node));
            }
        }
        let mut removed = 0;
        for (i, slot) in self.nodes.iter_mut().enumerate() {
            if slot.is_some() && !live[i] {
                *slot = None;
                removed += 1;
            }
        }
        removed
    }

    /// Deepest nesting of sub-graph bodies in this model (0 when it has none).
    pub fn body_depth(&self) -> usize {
        self.nodes().map(|(_, n)| n.op.bodies().iter().map(|b| b.depth() + 1).max().unwrap_or(0)).max().unwrap_or(0)
    }

    /// Topologically ordered copy with a dense arena (ids 0..n), as writers and compilers want.
    pub fn compacted(&self) -> Result<Model> {
        let order = self.topological_order()?;
        let mut map = HashMap::new();
        let mut nodes = Vec::with_capacity(order.len());
        for (new, &old) in order.iter().enumerate() {
            map.insert(old, NodeId(new as u32));
        }
        for &old in &order {
            let mut n = self.node(old)?.clone();
            for i in &mut n.inputs {
                i.node = map[&i.node];
            }
            nodes.push(Some(n));
        }
        Ok(Model {
            name: self.name.clone(),
            nodes,
            parameters: self.parameters.iter().map(|p| map[p]).collect(),
            results: self.results.iter().map(|r| map[r]).collect(),
            rt_info: self.rt_info.clone(),
            name_counter: self.name_counter,
        })
    }
}
