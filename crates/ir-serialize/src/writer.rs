//! The IR v11 writer: `<net>` XML in pugixml layout plus the raw `.bin`.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use ir_graph::{ElementType, Model, NodeId, Op, OutputRef, PartialShape, RtAttribute, RtValue};

use crate::SaveOptions;
use crate::error::SerializeError;
use crate::fp16::{self, DISABLE_ATTR, DISABLE_VALUE, Payload};
use crate::xml::{Element, is_xml_name};

/// Writes `model` as `xml_path` + the `.bin` beside it (same stem).
///
/// Both files are first written to temporaries in the destination folder and renamed at the
/// end, so a failure leaves neither a partial nor a stale pair behind.
pub fn save_model(model: &Model, xml_path: &Path, options: &SaveOptions) -> Result<(), SerializeError> {
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
        let xml = serialize(model, options, &mut w, xml_path)?;
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
    Writer { model, path: xml_path, bin, offset: 0, blobs: Vec::new(), by_hash: HashMap::new() }.run(options)
}

/// One payload already in the `.bin`, kept to compare later candidates against.
struct Blob {
    offset: u64,
    payload: Payload,
}

struct Writer<'a> {
    model: &'a Model,
    path: &'a Path,
    bin: &'a mut dyn Write,
    offset: u64,
    blobs: Vec<Blob>,
    by_hash: HashMap<u64, Vec<usize>>,
}

/// Where one node output ended up: layer id and port id.
type PortLoc = (usize, usize);

impl Writer<'_> {
    fn model_err(&self, id: NodeId, message: String) -> SerializeError {
        let (node, type_name) = match self.model.node(id) {
            Ok(n) => (n.name.clone(), n.op.type_name().to_string()),
            Err(_) => (id.to_string(), String::new()),
        };
        SerializeError::Model { path: self.path.to_path_buf(), node, type_name, message }
    }

    fn run(mut self, options: &SaveOptions) -> Result<String, SerializeError> {
        let model = self.model;
        let ordered = self.ordered_ops()?;
        let plan = fp16::plan(model, options.compress_to_fp16);

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

        let mut net = Element::new("net").attr("name", model.name.clone()).attr("version", "11");
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
        net.child(layers);

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

    /// OpenVINO's `Model::get_ordered_ops`: a depth-first topological sort rooted at the
    /// Results and then the Parameters (pushed on one stack, so Parameters come out first),
    /// visiting input 0 first. Nodes no Result depends on are not part of the model.
    fn ordered_ops(&self) -> Result<Vec<NodeId>, SerializeError> {
        let model = self.model;
        let mut stack: Vec<NodeId> = model.results().to_vec();
        stack.extend(model.parameters().iter().copied());
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

    /// Appends a payload to the `.bin` (or finds an identical one already there) and returns
    /// its offset and size.
    fn write_payload(&mut self, payload: Payload, dedup: bool) -> Result<(u64, u64), SerializeError> {
        let size = payload.len() as u64;
        if size == 0 {
            return Ok((self.offset, 0));
        }
        let mut hash = 0u64;
        if dedup {
            let mut h = DefaultHasher::new();
            for i in 0..payload.chunks() {
                h.write(&payload.chunk(i));
                payload.release_chunk(i);
            }
            hash = h.finish();
            if let Some(cands) = self.by_hash.get(&hash) {
                for &c in cands {
                    let blob = &self.blobs[c];
                    let same = blob.payload.same_output(&payload);
                    blob.payload.release();
                    payload.release();
                    if same {
                        return Ok((blob.offset, size));
                    }
                }
            }
        }
        let offset = self.offset;
        let bin_path = self.path.with_extension("bin");
        for i in 0..payload.chunks() {
            self.bin.write_all(&payload.chunk(i)).map_err(|e| SerializeError::io(&bin_path, e))?;
            payload.release_chunk(i);
        }
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
