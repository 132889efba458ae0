//! The IR v11 writer: `<net>` XML in pugixml layout plus the raw `.bin`.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use ir_graph::{ElementType, Model, NodeId, Op, OutputRef, PartialShape, RtAttribute, RtValue};
use rayon::prelude::*;

use crate::SaveOptions;
use crate::error::SerializeError;
use crate::fp16::{self, CHUNK, DISABLE_ATTR, DISABLE_VALUE, Payload};
use crate::xml::{Element, is_xml_name};

/// Writes `model` as `xml_path` + the `.bin` beside it (same stem).
///
/// Both files are first written to temporaries in the destination folder and renamed at the
/// end, so a failure leaves neither a partial nor a stale pair behind. Weights stream from
/// wherever the constants live (often memory maps of the source model) into the `.bin`, a few
/// MiB at a time, FP16 compression done in parallel on the rayon pool.
///
/// ```
/// use ir_graph::{ElementType, Model, PartialShape, Tensor, ops::Add};
///
/// // y = x + w with 1024 f32 weights, saved like `ovc` does (FP16-compressed).
/// let mut m = Model::new("add");
/// let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[1024]))?;
/// let w = m.add_const("w", Tensor::from_vec(vec![1024], vec![0.5f32; 1024])?)?;
/// let y = m.add_node(Add::default(), "y", &[x.into(), w.into()])?;
/// m.add_result("y/sink_port_0", y.into())?;
/// let dir = tempfile::tempdir()?;
/// let xml = dir.path().join("add.xml");
/// ir_serialize::save_model(&m, &xml, &ir_serialize::SaveOptions { compress_to_fp16: true })?;
/// assert_eq!(std::fs::metadata(xml.with_extension("bin"))?.len(), 1024 * 2);
/// let text = std::fs::read_to_string(&xml)?;
/// assert!(text.contains("element_type=\"f16\"") && text.contains("decompression"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_model(model: &Model, xml_path: &Path, options: &SaveOptions) -> Result<(), SerializeError> {
    save_model_with_progress(model, xml_path, options, &mut |_| {})
}

/// [`save_model`], reporting the weights streamed into the `.bin` as they go (for a progress
/// bar). `on_progress` is called from the calling thread, often (every few MiB), with
/// monotonically growing [`SaveProgress::done`].
pub fn save_model_with_progress(
    model: &Model,
    xml_path: &Path,
    options: &SaveOptions,
    on_progress: &mut dyn FnMut(SaveProgress),
) -> Result<(), SerializeError> {
    let bin_path = xml_path.with_extension("bin");
    let dir = match xml_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| SerializeError::io(&dir, e))?;
    let bin_tmp =
        tempfile::Builder::new().prefix(".ir-bin-").tempfile_in(&dir).map_err(|e| SerializeError::io(&dir, e))?;
    let xml_tmp =
        tempfile::Builder::new().prefix(".ir-xml-").tempfile_in(&dir).map_err(|e| SerializeError::io(&dir, e))?;

    let xml = {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, bin_tmp.as_file());
        let xml = Writer::new(model, xml_path, &mut w, Some(bin_tmp.as_file()), on_progress).run(options)?;
        w.flush().map_err(|e| SerializeError::io(&bin_path, e))?;
        xml
    };
    bin_tmp.as_file().sync_all().map_err(|e| SerializeError::io(&bin_path, e))?;
    {
        let mut f = xml_tmp.as_file();
        f.write_all(xml.as_bytes()).map_err(|e| SerializeError::io(xml_path, e))?;
        f.sync_all().map_err(|e| SerializeError::io(xml_path, e))?;
    }
    // Temporaries are created 0600; the IR should get ordinary file permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for (f, p) in [(bin_tmp.as_file(), &bin_path), (xml_tmp.as_file(), &xml_path.to_path_buf())] {
            f.set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|e| SerializeError::io(p, e))?;
        }
    }
    // The .bin goes first: a reader that sees the new .xml must find the matching weights.
    bin_tmp.persist(&bin_path).map_err(|e| SerializeError::io(&bin_path, e.error))?;
    if let Err(e) = xml_tmp.persist(xml_path) {
        let _ = std::fs::remove_file(&bin_path);
        return Err(SerializeError::io(xml_path, e.error));
    }
    Ok(())
}

/// Writes the weights of `model` to `bin` and returns the XML text. `xml_path` only names the
/// destination in error messages.
pub fn serialize(
    model: &Model,
    options: &SaveOptions,
    bin: &mut dyn Write,
    xml_path: &Path,
) -> Result<String, SerializeError> {
    serialize_with_progress(model, options, bin, xml_path, &mut |_| {})
}

/// [`serialize`] with progress reports, as [`save_model_with_progress`].
pub fn serialize_with_progress(
    model: &Model,
    options: &SaveOptions,
    bin: &mut dyn Write,
    xml_path: &Path,
    on_progress: &mut dyn FnMut(SaveProgress),
) -> Result<String, SerializeError> {
    Writer::new(model, xml_path, bin, None, on_progress).run(options)
}

/// How far [`save_model_with_progress`] is: `.bin` bytes written (or found already written)
/// out of the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaveProgress {
    /// Bytes processed so far.
    pub done: u64,
    /// Bytes to process in all.
    pub total: u64,
}

/// Output chunks converted (or hashed) in parallel per step: 4 MiB of `.bin`. Two windows are
/// in memory at a time (one being written while the next is converted), whatever the model.
const WINDOW: usize = 64;

/// Payloads of up to this many chunks are fingerprinted in full for de-duplication.
const FULL_HASH_CHUNKS: usize = 64;

/// Chunks sampled (evenly, first and last included) to fingerprint a bigger payload.
const HASH_SAMPLES: usize = 32;

/// One payload already in the `.bin`, kept to compare later candidates against.
struct Blob {
    offset: u64,
    payload: Payload,
}

struct Writer<'a> {
    model: &'a Model,
    path: &'a Path,
    bin: &'a mut dyn Write,
    /// The file `bin` writes to, when there is one: file-mapped weights written as stored are
    /// copied into it by the kernel (`copy_file_range`), without faulting their pages in.
    bin_file: Option<&'a File>,
    offset: u64,
    blobs: Vec<Blob>,
    by_hash: HashMap<u64, Vec<usize>>,
    /// Layer ids of the graph written last (bodies' port maps refer to them).
    layer_ids: Option<HashMap<NodeId, usize>>,
    progress: SaveProgress,
    on_progress: &'a mut dyn FnMut(SaveProgress),
}

/// Where one node output ended up: layer id and port id.
type PortLoc = (usize, usize);

impl<'a> Writer<'a> {
    fn new(
        model: &'a Model,
        path: &'a Path,
        bin: &'a mut dyn Write,
        bin_file: Option<&'a File>,
        on_progress: &'a mut dyn FnMut(SaveProgress),
    ) -> Writer<'a> {
        Writer {
            model,
            path,
            bin,
            bin_file,
            offset: 0,
            blobs: Vec::new(),
            by_hash: HashMap::new(),
            progress: SaveProgress::default(),
            on_progress,
            layer_ids: None,
        }
    }

    fn model_err(&self, id: NodeId, message: String) -> SerializeError {
        let (node, type_name) = match self.model.node(id) {
            Ok(n) => (n.name.clone(), n.op.type_name().to_string()),
            Err(_) => (id.to_string(), String::new()),
        };
        SerializeError::Model { path: self.path.to_path_buf(), node, type_name, message }
    }

    fn run(mut self, options: &SaveOptions) -> Result<String, SerializeError> {
        let model = self.model;
        let (layers, edges_el) = self.write_graph(options, 0)?;
        let mut net = Element::new("net").attr("name", model.name.clone()).attr("version", "11");
        net.child(layers);
        net.child(edges_el);

        let mut rt = Element::new("rt_info");
        for (k, v) in &model.rt_info {
            if k == "version" || k == "__weights_path" {
                continue;
            }
            rt.child(model_rt_element(k, v));
        }
        net.child(rt);
        Ok(net.to_document())
    }

    /// Writes one body (`<body>`, `<then_body>`, ...) and returns it with the layer ids of the
    /// body's nodes.
    fn write_body(
        &mut self,
        body: &'a Model,
        tag: &str,
        options: &SaveOptions,
        depth: usize,
    ) -> Result<(Element, HashMap<NodeId, usize>), SerializeError> {
        if depth >= ir_graph::ops::MAX_BODY_DEPTH {
            return Err(SerializeError::Model {
                path: self.path.to_path_buf(),
                node: String::new(),
                type_name: String::new(),
                message: format!("bodies are nested more than {} levels deep", ir_graph::ops::MAX_BODY_DEPTH),
            });
        }
        let saved = self.model;
        self.model = body;
        let written = self.write_graph(options, depth + 1);
        let ids = self.layer_ids.take();
        self.model = saved;
        let (layers, edges) = written?;
        let mut el = Element::new(tag);
        el.child(layers);
        el.child(edges);
        el.child(Element::new("rt_info"));
        Ok((el, ids.unwrap_or_default()))
    }

    /// Port maps, back edges and bodies of a sub-graph op: (elements before the ports,
    /// elements after them).
    fn sub_graph_parts(
        &mut self,
        op: &'a Op,
        n_in: usize,
        options: &SaveOptions,
        depth: usize,
    ) -> Result<(Vec<Element>, Vec<Element>), SerializeError> {
        use ir_graph::ops::{InputDesc, OutputDesc};
        let layer_of = |ids: &HashMap<NodeId, usize>, list: &[NodeId], k: usize, what: &str| {
            list.get(k).and_then(|n| ids.get(n)).copied().ok_or_else(|| format!("the body has no {what} {k}"))
        };
        let port_map = |tag: &str,
                        body: &Model,
                        ids: &HashMap<NodeId, usize>,
                        ins: &[InputDesc],
                        outs: &[OutputDesc],
                        special: &[Element]|
         -> Result<(Element, Element), String> {
            let mut pm = Element::new(tag);
            let mut back = Element::new("back_edges");
            for d in ins {
                let l = layer_of(ids, body.parameters(), d.param(), "parameter")?;
                let mut e = Element::new("input");
                if let InputDesc::Sliced { slice, .. } = d {
                    e.push_attr("axis", slice.axis.to_string());
                }
                e.push_attr("external_port_id", d.input().to_string());
                e.push_attr("internal_layer_id", l.to_string());
                if let InputDesc::Sliced { slice, .. } = d {
                    push_slice(&mut e, slice);
                }
                pm.child(e);
                if let InputDesc::Merged { result, .. } = d {
                    let r = layer_of(ids, body.results(), *result, "result")?;
                    back.child(Element::new("edge").attr("from-layer", r.to_string()).attr("to-layer", l.to_string()));
                }
            }
            for d in outs {
                let l = layer_of(ids, body.results(), d.result(), "result")?;
                let mut e = Element::new("output");
                if let OutputDesc::Concat { slice, .. } = d {
                    e.push_attr("axis", slice.axis.to_string());
                }
                e.push_attr("external_port_id", (n_in + d.output()).to_string());
                e.push_attr("internal_layer_id", l.to_string());
                if let OutputDesc::Concat { slice, .. } = d {
                    push_slice(&mut e, slice);
                }
                pm.child(e);
            }
            for e in special {
                pm.child(e.clone());
            }
            Ok((pm, back))
        };
        let err = |m: String| SerializeError::Model {
            path: self.path.to_path_buf(),
            node: String::new(),
            type_name: op.type_name().to_string(),
            message: m,
        };
        match op {
            Op::If(o) => {
                let (then_el, then_ids) = self.write_body(&o.then_body.0, "then_body", options, depth)?;
                let (else_el, else_ids) = self.write_body(&o.else_body.0, "else_body", options, depth)?;
                let (else_pm, _) =
                    port_map("else_port_map", &o.else_body.0, &else_ids, &o.else_inputs, &o.else_outputs, &[])
                        .map_err(err)?;
                let (then_pm, _) =
                    port_map("then_port_map", &o.then_body.0, &then_ids, &o.then_inputs, &o.then_outputs, &[])
                        .map_err(err)?;
                Ok((vec![else_pm, then_pm], vec![then_el, else_el]))
            }
            Op::Loop(o) => {
                let (body_el, ids) = self.write_body(&o.body.0, "body", options, depth)?;
                let body = &o.body.0;
                let mut special = Vec::new();
                if let Some(p) = o.current_iteration {
                    let l = layer_of(&ids, body.parameters(), p, "parameter").map_err(err)?;
                    special.push(
                        Element::new("input")
                            .attr("external_port_id", "-1")
                            .attr("internal_layer_id", l.to_string())
                            .attr("purpose", "current_iteration"),
                    );
                }
                let l = layer_of(&ids, body.results(), o.condition, "result").map_err(err)?;
                special.push(
                    Element::new("output")
                        .attr("external_port_id", "-1")
                        .attr("internal_layer_id", l.to_string())
                        .attr("purpose", "execution_condition"),
                );
                let (pm, back) = port_map("port_map", body, &ids, &o.inputs, &o.outputs, &special).map_err(err)?;
                Ok((vec![pm, back], vec![body_el]))
            }
            Op::TensorIterator(o) => {
                let (body_el, ids) = self.write_body(&o.body.0, "body", options, depth)?;
                let (pm, back) = port_map("port_map", &o.body.0, &ids, &o.inputs, &o.outputs, &[]).map_err(err)?;
                Ok((vec![pm, back], vec![body_el]))
            }
            _ => Ok((Vec::new(), Vec::new())),
        }
    }

    /// `<layers>` and `<edges>` of `self.model`; leaves the layer ids in `self.layer_ids`.
    fn write_graph(&mut self, options: &SaveOptions, depth: usize) -> Result<(Element, Element), SerializeError> {
        let model = self.model;
        // OpenVINO's `get_ordered_ops` keeps Parameters first and Results last, each in model
        // order, with the other ops in depth-first order between them.
        let ordered = {
            let dfs = self.ordered_ops()?;
            let params: HashSet<NodeId> = model.parameters().iter().copied().collect();
            let results: HashSet<NodeId> = model.results().iter().copied().collect();
            let reached: HashSet<NodeId> = dfs.iter().copied().collect();
            let mut v: Vec<NodeId> = model.parameters().iter().copied().filter(|p| reached.contains(p)).collect();
            v.extend(dfs.iter().copied().filter(|id| !params.contains(id) && !results.contains(id)));
            v.extend(model.results().iter().copied().filter(|r| reached.contains(r)));
            v
        };
        let plan = fp16::plan(model, options.compress_to_fp16);
        // Bodies of sub-graph ops add their own weights when they are written.
        self.progress.total += ordered
            .iter()
            .filter_map(|id| match model.node(*id).map(|n| &n.op) {
                Ok(Op::Constant(c)) => {
                    let len = c.value.data().len() as u64;
                    let len = match (plan.compress.contains(id), c.value.element_type()) {
                        (false, _) => len,
                        (true, ElementType::F64) => len / 4,
                        (true, _) => len / 2,
                    };
                    Some(len)
                }
                _ => None,
            })
            .sum::<u64>();
        (self.on_progress)(self.progress);

        // Layer ids are positions in the topological order, a compressed constant taking two
        // (its Const, then its Convert), exactly as OpenVINO numbers the graph it writes.
        let mut ids: HashMap<NodeId, usize> = HashMap::new();
        let mut locs: HashMap<OutputRef, PortLoc> = HashMap::new();
        let mut next = 0usize;
        for &id in &ordered {
            let node = model.node(id).map_err(|e| self.model_err(id, e.to_string()))?;
            ids.insert(id, next);
            if plan.compress.contains(&id) {
                locs.insert(OutputRef::new(id, 0), (next + 1, 1));
                next += 2;
            } else {
                let n_in = node.inputs.len();
                for k in 0..node.outputs.len() {
                    locs.insert(OutputRef::new(id, k as u32), (next, n_in + k));
                }
                next += 1;
            }
        }

        // Edges in OpenVINO's order: consumers in topological order, inputs in order, then
        // libstdc++'s unstable sort by source layer.
        let mut edges: Vec<[usize; 4]> = Vec::new();
        for &id in &ordered {
            let node = model.node(id).map_err(|e| self.model_err(id, e.to_string()))?;
            for (k, src) in node.inputs.iter().enumerate() {
                let &(fl, fp) = locs
                    .get(src)
                    .ok_or_else(|| self.model_err(id, format!("input {k} reads an output that is not written")))?;
                edges.push([fl, fp, ids[&id], k]);
            }
            if plan.compress.contains(&id) {
                edges.push([ids[&id], 0, ids[&id] + 1, 0]);
            }
        }
        crate::stl_sort::std_sort(&mut edges, &|a: &[usize; 4], b: &[usize; 4]| a[0] < b[0]);

        // File order: Parameters (input order), other ops (topological), Results (output order).
        let params: HashSet<NodeId> = model.parameters().iter().copied().collect();
        let results: HashSet<NodeId> = model.results().iter().copied().collect();
        let mut file_order: Vec<NodeId> = model.parameters().to_vec();
        file_order.extend(ordered.iter().filter(|id| !params.contains(id) && !results.contains(id)));
        file_order.extend(model.results().iter().copied());

        let mut layers = Element::new("layers");
        let mut unique_names: HashSet<String> = HashSet::new();
        for &id in &file_order {
            let node = model.node(id).map_err(|e| self.model_err(id, e.to_string()))?;
            let layer_id = ids.get(&id).copied().ok_or_else(|| {
                self.model_err(id, "the node is listed as a model input or output but is not connected".into())
            })?;
            let n_in = node.inputs.len();
            let compressed = plan.compress.contains(&id);
            let layer_name = if compressed {
                unique_name(&mut unique_names, &format!("{}_compressed", node.name))
            } else {
                unique_name(&mut unique_names, &node.name)
            };
            let mut layer = Element::new("layer")
                .attr("id", layer_id.to_string())
                .attr("name", layer_name)
                .attr("type", node.op.type_name())
                .attr("version", node.op.version());
            let is_result = matches!(node.op, Op::ResultOp(_));
            if is_result {
                let names = self.result_names(id);
                if !names.is_empty() {
                    layer.push_attr("output_names", join_names(&names));
                }
            }

            let (before, after) = self.sub_graph_parts(&node.op, n_in, options, depth)?;
            for e in before {
                layer.child(e);
            }
            let mut data = Element::new("data");
            let attrs = node.op.attributes().map_err(|e| self.model_err(id, format!("attribute: {e}")))?;
            for (k, v) in fix_auto_pad_attrs(attrs) {
                data.push_attr(&k, v);
            }
            if let Op::Constant(c) = &node.op {
                let payload = if compressed {
                    for (k, v) in &mut data.attrs {
                        if k == "element_type" {
                            *v = ElementType::F16.ir_name().to_string();
                        }
                    }
                    match c.value.element_type() {
                        ElementType::F64 => Payload::F16FromF64(c.value.data().clone()),
                        _ => Payload::F16FromF32(c.value.data().clone()),
                    }
                } else {
                    Payload::Raw(c.value.data().clone())
                };
                // OpenVINO 2026 does not deduplicate string constants.
                let dedup = c.value.element_type() != ElementType::String;
                let (offset, size) = self.write_payload(payload, dedup)?;
                data.push_attr("offset", offset.to_string());
                data.push_attr("size", size.to_string());
            }
            if !data.attrs.is_empty() {
                layer.child(data);
            }
            let mut rt = node.rt_info.clone();
            if plan.mark_sensitive.contains(&id) && !rt.iter().any(|a| a.name == DISABLE_ATTR) {
                rt.push(RtAttribute {
                    name: DISABLE_ATTR.into(),
                    version: "0".into(),
                    values: vec![("value".into(), DISABLE_VALUE.into())],
                });
            }
            if !rt.is_empty() {
                layer.child(rt_info_element(&rt));
            }
            if n_in > 0 {
                let mut input = Element::new("input");
                for (k, src) in node.inputs.iter().enumerate() {
                    let port = model.port(*src).map_err(|e| self.model_err(id, e.to_string()))?;
                    input.child(port_element(k, port.element_type, &port.shape, None, &[]));
                }
                layer.child(input);
            }
            if !is_result && !node.outputs.is_empty() {
                let mut output = Element::new("output");
                for (k, port) in node.outputs.iter().enumerate() {
                    let et = if compressed { ElementType::F16 } else { port.element_type };
                    output.child(port_element(n_in + k, et, &port.shape, Some(&port.names), &port.rt_info));
                }
                layer.child(output);
            }
            for e in after {
                layer.child(e);
            }
            layers.child(layer);

            if compressed {
                // Const(f16) -> Convert(original type) marked `decompression`; consumers read
                // the Convert, which keeps the Const's friendly name.
                let port = &node.outputs[0];
                let mut conv = Element::new("layer")
                    .attr("id", (layer_id + 1).to_string())
                    .attr("name", unique_name(&mut unique_names, &node.name))
                    .attr("type", "Convert")
                    .attr("version", "opset1");
                conv.child(Element::new("data").attr("destination_type", port.element_type.ir_name()));
                let mut rt = node.rt_info.clone();
                rt.push(RtAttribute::flag("decompression"));
                conv.child(rt_info_element(&rt));
                let mut input = Element::new("input");
                input.child(port_element(0, ElementType::F16, &port.shape, None, &[]));
                conv.child(input);
                let mut output = Element::new("output");
                output.child(port_element(1, port.element_type, &port.shape, None, &[]));
                conv.child(output);
                layers.child(conv);
            }
        }
        let mut edges_el = Element::new("edges");
        for [fl, fp, tl, tp] in edges {
            edges_el.child(
                Element::new("edge")
                    .attr("from-layer", fl.to_string())
                    .attr("from-port", fp.to_string())
                    .attr("to-layer", tl.to_string())
                    .attr("to-port", tp.to_string()),
            );
        }
        self.layer_ids = Some(ids);
        Ok((layers, edges_el))
    }

    /// OpenVINO's `Model::get_ordered_ops`: a depth-first topological sort rooted at the
    /// Results and then the Parameters in reverse (pushed on one stack, so Parameters come out
    /// first, in order),
    /// visiting input 0 first. Nodes no Result depends on are not part of the model.
    fn ordered_ops(&self) -> Result<Vec<NodeId>, SerializeError> {
        let model = self.model;
        let mut stack: Vec<NodeId> = model.results().to_vec();
        stack.extend(model.parameters().iter().rev().copied());
        let mut done: HashSet<NodeId> = HashSet::new();
        let mut visits: HashMap<NodeId, u32> = HashMap::new();
        let mut order = Vec::new();
        while let Some(&id) = stack.last() {
            if done.contains(&id) {
                stack.pop();
                continue;
            }
            let node = model.node(id).map_err(|e| self.model_err(id, e.to_string()))?;
            let v = visits.entry(id).or_insert(0);
            *v += 1;
            // A node is on top at most twice before it is done: when first reached and after
            // its inputs; a third time means it is its own ancestor.
            if *v > 2 {
                return Err(self.model_err(id, "the graph has a cycle through this node".into()));
            }
            let mut can_add = true;
            for (k, i) in node.inputs.iter().enumerate().rev() {
                let src = model.node(i.node).map_err(|_| {
                    self.model_err(id, format!("input {k} reads from node {}, which does not exist", i.node))
                })?;
                if i.index as usize >= src.outputs.len() {
                    return Err(self.model_err(
                        id,
                        format!(
                            "input {k} reads output {} of '{}', which has {}",
                            i.index,
                            src.name,
                            src.outputs.len()
                        ),
                    ));
                }
                if matches!(src.op, Op::ResultOp(_)) {
                    return Err(self.model_err(id, format!("input {k} reads from Result '{}'", src.name)));
                }
                if !done.contains(&i.node) {
                    can_add = false;
                    stack.push(i.node);
                }
            }
            if can_add {
                order.push(id);
                stack.pop();
                done.insert(id);
            }
        }
        Ok(order)
    }

    /// Names a Result exposes: its own port's names, else those of the tensor it reads.
    fn result_names(&self, id: NodeId) -> BTreeSet<String> {
        let Ok(node) = self.model.node(id) else { return BTreeSet::new() };
        if let Some(p) = node.outputs.first().filter(|p| !p.names.is_empty()) {
            return p.names.clone();
        }
        node.inputs.first().and_then(|i| self.model.port(*i).ok()).map(|p| p.names.clone()).unwrap_or_default()
    }

    /// Counts `bytes` more as processed and tells the progress callback.
    fn advance(&mut self, bytes: u64) {
        self.progress.done = (self.progress.done + bytes).min(self.progress.total);
        (self.on_progress)(self.progress);
    }

    /// A fingerprint of the payload's output bytes: equal outputs always get equal
    /// fingerprints, and a match is confirmed by a full comparison, so for big payloads a fixed
    /// sample of chunks is enough. Hashing every byte of a multi-GB model would cost a whole
    /// extra pass over its weights for the rare tensor that is actually repeated.
    fn hash_payload(&self, payload: &Payload) -> u64 {
        let n = payload.chunks();
        let picks: Vec<usize> = if n <= FULL_HASH_CHUNKS {
            (0..n).collect()
        } else {
            (0..HASH_SAMPLES).map(|s| s * (n - 1) / (HASH_SAMPLES - 1)).collect()
        };
        let hashes: Vec<u64> = picks
            .par_iter()
            .map(|&i| {
                let mut ch = DefaultHasher::new();
                ch.write(&payload.chunk(i));
                ch.finish()
            })
            .collect();
        let mut h = DefaultHasher::new();
        h.write_usize(payload.len());
        for x in hashes {
            h.write_u64(x);
        }
        // The kernel maps up to 64 KiB of neighbouring pages around each fault ("fault-around"),
        // so the neighbouring chunks are released too.
        for &i in &picks {
            payload.release_chunks(i.saturating_sub(1), (i + 2).min(n));
        }
        h.finish()
    }

    /// Streams the payload into the `.bin`: while one window of chunks is written, the next is
    /// converted on the rayon pool.
    fn stream_payload(&mut self, payload: &Payload) -> Result<(), SerializeError> {
        let n = payload.chunks();
        let bin_path = self.path.with_extension("bin");
        if let (Payload::Raw(bytes), Some(dst)) = (payload, self.bin_file)
            && let Some((src, at)) = bytes.file_region()
        {
            return self.copy_file_region(src, at, bytes.len() as u64, dst);
        }
        let convert = |first: usize| -> Vec<std::borrow::Cow<'_, [u8]>> {
            let end = (first + WINDOW).min(n);
            (first..end).into_par_iter().map(|i| payload.chunk(i)).collect()
        };
        let mut current = convert(0);
        let mut first = 0;
        while first < n {
            let end = (first + WINDOW).min(n);
            let mut next = None;
            let bin = &mut *self.bin;
            let written: std::io::Result<()> = rayon::in_place_scope(|scope| {
                if end < n {
                    let next = &mut next;
                    let convert = &convert;
                    scope.spawn(move |_| *next = Some(convert(end)));
                }
                current.iter().try_for_each(|c| bin.write_all(c))
            });
            written.map_err(|e| SerializeError::io(&bin_path, e))?;
            payload.release_chunks(first, end);
            self.advance(payload.chunk_range_len(first, end));
            current = next.unwrap_or_default();
            first = end;
        }
        Ok(())
    }

    /// Copies `len` bytes at offset `at` of `src` to the end of the `.bin`, file to file (std's
    /// `io::copy` uses `copy_file_range` between files on Linux), a window at a time for the
    /// progress reports.
    fn copy_file_region(&mut self, src: &File, at: u64, len: u64, dst: &File) -> Result<(), SerializeError> {
        use std::io::{Read, Seek, SeekFrom};
        let bin_path = self.path.with_extension("bin");
        // What is buffered must reach the file before the copied bytes do.
        self.bin.flush().map_err(|e| SerializeError::io(&bin_path, e))?;
        let mut reader = src;
        reader.seek(SeekFrom::Start(at)).map_err(|e| SerializeError::io(&bin_path, e))?;
        let step = (WINDOW * CHUNK) as u64 * 16;
        let mut done = 0u64;
        while done < len {
            let part = step.min(len - done);
            let mut writer = dst;
            let copied =
                std::io::copy(&mut reader.take(part), &mut writer).map_err(|e| SerializeError::io(&bin_path, e))?;
            if copied != part {
                return Err(SerializeError::io(
                    &bin_path,
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("a weights file ended {} bytes before the constant's end", len - done - copied),
                    ),
                ));
            }
            done += part;
            self.advance(part);
        }
        Ok(())
    }

    /// Appends a payload to the `.bin` (or finds an identical one already there) and returns
    /// its offset and size.
    fn write_payload(&mut self, payload: Payload, dedup: bool) -> Result<(u64, u64), SerializeError> {
        let size = payload.len() as u64;
        if size == 0 {
            return Ok((self.offset, 0));
        }
        let mut hash = 0u64;
        if dedup {
            hash = self.hash_payload(&payload);
            if let Some(cands) = self.by_hash.get(&hash) {
                for &c in cands {
                    let blob = &self.blobs[c];
                    let same = blob.payload.same_output(&payload);
                    blob.payload.release();
                    payload.release();
                    if same {
                        let offset = blob.offset;
                        self.advance(size);
                        return Ok((offset, size));
                    }
                }
            }
        }
        let offset = self.offset;
        self.stream_payload(&payload)?;
        payload.release();
        self.offset += size;
        if dedup {
            self.by_hash.entry(hash).or_default().push(self.blobs.len());
            self.blobs.push(Blob { offset, payload });
        }
        Ok((offset, size))
    }
}

/// pugixml-writer uniqueness: a repeated friendly name gets the first free numeric suffix.
fn unique_name(seen: &mut HashSet<String>, name: &str) -> String {
    let mut out = name.to_string();
    if seen.contains(&out) {
        let mut k = 0u64;
        loop {
            out = format!("{name}{k}");
            if !seen.contains(&out) {
                break;
            }
            k += 1;
        }
    }
    seen.insert(out.clone());
    out
}

/// Tensor names sorted, joined by `,`, literal commas escaped as `\,`.
pub(crate) fn join_names(names: &BTreeSet<String>) -> String {
    names.iter().map(|n| n.replace(',', "\\,")).collect::<Vec<_>>().join(",")
}

fn port_element(
    id: usize,
    et: ElementType,
    shape: &PartialShape,
    names: Option<&BTreeSet<String>>,
    rt: &[RtAttribute],
) -> Element {
    let mut p = Element::new("port").attr("id", id.to_string()).attr("precision", et.precision_name());
    if let Some(names) = names.filter(|n| !n.is_empty()) {
        p.push_attr("names", join_names(names));
    }
    if let Some(dims) = shape.dims() {
        for d in dims {
            let mut dim = Element::new("dim");
            dim.text = d.get().map(|v| v.to_string()).unwrap_or_else(|| "-1".to_string());
            p.child(dim);
        }
    }
    if !rt.is_empty() {
        p.child(rt_info_element(rt));
    }
    p
}

fn rt_info_element(rt: &[RtAttribute]) -> Element {
    let mut e = Element::new("rt_info");
    for a in rt {
        let mut at = Element::new("attribute").attr("name", a.name.clone()).attr("version", a.version.clone());
        for (k, v) in &a.values {
            at.push_attr(k, v.clone());
        }
        e.child(at);
    }
    e
}

fn model_rt_element(key: &str, value: &RtValue) -> Element {
    let mut e = if is_xml_name(key) { Element::new(key) } else { Element::new("info").attr("name", key) };
    match value {
        RtValue::Str(s) => e.push_attr("value", s.clone()),
        RtValue::Map(entries) => {
            for (k, v) in entries {
                e.child(model_rt_element(k, v));
            }
        }
    }
    e
}

/// OpenVINO writes zero pads for ops whose `auto_pad` computes them.
fn fix_auto_pad_attrs(mut attrs: Vec<(String, String)>) -> Vec<(String, String)> {
    let auto = attrs
        .iter()
        .any(|(k, v)| k == "auto_pad" && matches!(v.as_str(), "same_upper" | "same_lower" | "valid" | "auto"));
    if auto {
        for (k, v) in &mut attrs {
            if k == "pads_begin" || k == "pads_end" {
                let n = if v.trim().is_empty() { 0 } else { v.split(',').count() };
                *v = vec!["0"; n].join(", ");
            }
        }
    }
    attrs
}

fn push_slice(e: &mut Element, s: &ir_graph::ops::SliceAttrs) {
    e.push_attr("start", s.start.to_string());
    e.push_attr("end", s.end.to_string());
    e.push_attr("stride", s.stride.to_string());
    e.push_attr("part_size", s.part_size.to_string());
}
