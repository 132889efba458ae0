//! The IR reader: XML (quick-xml) + memory-mapped `.bin` -> `ir_graph::Model`.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ir_graph::ops::{Constant, ONNX_EXT_OPSET, OPENVINO_OPSET, split_version};
use ir_graph::{ByteOwner, Bytes, ElementType, Model, NodeId, Op, OutputRef, RtAttribute, RtValue, Tensor};

use crate::error::SerializeError;
use crate::xml::{self, Element};

/// The newest OpenVINO opset (OpenVINO 2026.4 defines opset1..opset17). A layer stamped with a
/// newer one may mean something this reader has never seen, so it is refused.
pub const MAX_OPSET: u32 = 17;

/// A read-only memory map of a weights file, shared by every constant that points into it.
pub struct MappedFile {
    map: memmap2::Mmap,
    file: std::fs::File,
}

impl MappedFile {
    /// Maps `path` read-only.
    pub fn open(path: &Path) -> Result<MappedFile, SerializeError> {
        let file = std::fs::File::open(path).map_err(|e| SerializeError::io(path, e))?;
        // SAFETY: the map is read-only and private to this process. As with every mmap-based
        // loader, the file must not be truncated or rewritten while the model is alive; the
        // writer never modifies an existing .bin in place (it renames a new file over it), so
        // a model read from a path we later save to keeps its old, still-mapped inode.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| SerializeError::io(path, e))?;
        Ok(MappedFile { map, file })
    }
}

impl ByteOwner for MappedFile {
    fn bytes(&self) -> &[u8] {
        &self.map
    }
    fn release(&self, start: usize, len: usize) {
        release_map_range(&self.map, start, len);
    }
    fn file_region(&self) -> Option<(&std::fs::File, u64)> {
        Some((&self.file, 0))
    }
}

/// Drops the resident pages of `map` that lie wholly inside `[start, start + len)`.
fn release_map_range(map: &memmap2::Mmap, start: usize, len: usize) {
    const PAGE: usize = 4096;
    let first = start.div_ceil(PAGE) * PAGE;
    let end = (start.saturating_add(len) / PAGE * PAGE).min(map.len());
    if first < end {
        // SAFETY: the map is a read-only file mapping; MADV_DONTNEED only discards resident
        // pages, which the kernel reloads from the unchanged file if they are read again, so no
        // live slice observes different bytes. Failure only means the pages stay resident.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, end - first) };
    }
}

/// Reads `xml_path` and the `.bin` beside it (same stem). Constants stay views into the
/// memory-mapped weights file.
pub fn read_model(xml_path: &Path) -> Result<Model, SerializeError> {
    let text = std::fs::read_to_string(xml_path).map_err(|e| SerializeError::io(xml_path, e))?;
    let root = xml::parse(&text, xml_path)?;
    let bin_path = xml_path.with_extension("bin");
    let bin = if needs_weights(&root) || bin_path.exists() {
        let len = std::fs::metadata(&bin_path)
            .map_err(|e| {
                SerializeError::io(
                    &bin_path,
                    std::io::Error::new(
                        e.kind(),
                        format!("cannot open the weights file of {}: {e}", xml_path.display()),
                    ),
                )
            })?
            .len();
        if len == 0 {
            // Mapping an empty file fails on some systems; there is nothing to map anyway.
            Bytes::empty()
        } else {
            Bytes::from_owner(Arc::new(MappedFile::open(&bin_path)?))
        }
    } else {
        Bytes::empty()
    };
    build(&root, bin, xml_path, &bin_path)
}

/// Reads IR from XML text and the weights as bytes (which may themselves be a map).
pub fn read_model_from(xml: &str, bin: Bytes) -> Result<Model, SerializeError> {
    let path = PathBuf::from("<memory>");
    let root = xml::parse(xml, &path)?;
    build(&root, bin, &path, Path::new("<memory>.bin"))
}

fn needs_weights(root: &Element) -> bool {
    // Bodies of sub-graph ops hold constants too; XML depth is bounded by the parser.
    root.first("layers")
        .map(|l| {
            l.all("layer").any(|e| {
                matches!(e.get("type"), Some("Const") | Some("Constant"))
                    || ["body", "then_body", "else_body"].iter().any(|b| e.first(b).is_some_and(needs_weights))
            })
        })
        .unwrap_or(false)
}

/// One `<layer>` with its ports resolved.
struct Layer<'a> {
    el: &'a Element,
    id_text: String,
    name: String,
    type_name: String,
    version: String,
    /// Input port ids in order: position = input index.
    inputs: Vec<u64>,
    /// Output port ids in order: position = output index.
    outputs: Vec<u64>,
}

struct Ctx<'a> {
    path: &'a Path,
    bin_path: &'a Path,
}

impl Ctx<'_> {
    fn format(&self, message: impl Into<String>) -> SerializeError {
        SerializeError::Format { path: self.path.to_path_buf(), message: message.into() }
    }

    fn layer(&self, l: &Layer<'_>, message: impl Into<String>) -> SerializeError {
        SerializeError::Layer {
            path: self.path.to_path_buf(),
            id: l.id_text.clone(),
            name: l.name.clone(),
            type_name: l.type_name.clone(),
            message: message.into(),
        }
    }

    fn layer_el(&self, el: &Element, message: impl Into<String>) -> SerializeError {
        SerializeError::Layer {
            path: self.path.to_path_buf(),
            id: el.get("id").unwrap_or("?").to_string(),
            name: el.get("name").unwrap_or("?").to_string(),
            type_name: el.get("type").unwrap_or("?").to_string(),
            message: message.into(),
        }
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

fn build(root: &Element, bin: Bytes, path: &Path, bin_path: &Path) -> Result<Model, SerializeError> {
    let cx = Ctx { path, bin_path };
    if root.name != "net" {
        return Err(cx.format(format!("the root element is <{}>, expected <net>", root.name)));
    }
    match root.get("version") {
        Some("10") | Some("11") => {}
        Some(v) => return Err(cx.format(format!("IR version {v} is not supported (10 and 11 are)"))),
        None => return Err(cx.format("<net> is missing the mandatory attribute 'version'")),
    }
    let (mut model, _) = build_graph(&cx, root, &bin, 0)?;
    if let Some(rt) = root.first("rt_info") {
        model.rt_info = rt.children.iter().map(read_model_rt).collect();
    }
    Ok(model)
}

/// Builds the graph of `<net>` or of a body (`<body>`, `<then_body>`, ...) at nesting `depth`;
/// returns it with the node of every layer id.
fn build_graph(
    cx: &Ctx<'_>,
    root: &Element,
    bin: &Bytes,
    depth: usize,
) -> Result<(Model, HashMap<u64, NodeId>), SerializeError> {
    let path = cx.path;
    let mut model = Model::new(root.get("name").unwrap_or(""));
    let layers_el = root.first("layers").ok_or_else(|| cx.format(format!("<{}> has no <layers>", root.name)))?;

    // Layers and their ports.
    let mut layers: Vec<Layer<'_>> = Vec::new();
    let mut by_id: HashMap<u64, usize> = HashMap::new();
    for el in layers_el.all("layer") {
        let attr = |k: &str| {
            el.get(k).map(str::to_string).ok_or_else(|| cx.layer_el(el, format!("missing mandatory attribute '{k}'")))
        };
        let id_text = attr("id")?;
        let id = parse_u64(&id_text).ok_or_else(|| cx.layer_el(el, format!("layer id '{id_text}' is not a number")))?;
        let mut l = Layer {
            el,
            id_text,
            name: attr("name")?,
            type_name: attr("type")?,
            version: attr("version")?,
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        for (section, list) in [("input", &mut l.inputs), ("output", &mut l.outputs)] {
            if let Some(sec) = el.first(section) {
                for p in sec.all("port") {
                    let pid = p
                        .get("id")
                        .and_then(parse_u64)
                        .ok_or_else(|| cx.layer_el(el, format!("an {section} port has no numeric 'id'")))?;
                    let prec = p.get("precision").ok_or_else(|| {
                        cx.layer_el(el, format!("port {pid} is missing mandatory attribute 'precision'"))
                    })?;
                    if ElementType::from_ir_name(prec).is_none() {
                        return Err(cx.layer_el(el, format!("port {pid} has unknown precision '{prec}'")));
                    }
                    // Port shapes are re-inferred, but a malformed one means a broken file.
                    for d in p.all("dim") {
                        if ir_graph::PartialShape::parse(&d.text).ok().and_then(|s| s.rank()) != Some(1) {
                            return Err(cx.layer_el(el, format!("port {pid} has a malformed dimension '{}'", d.text)));
                        }
                    }
                    list.push(pid);
                }
            }
        }
        let mut all: Vec<u64> = l.inputs.iter().chain(&l.outputs).copied().collect();
        all.sort_unstable();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return Err(cx.layer(&l, "two ports share one id"));
        }
        if by_id.insert(id, layers.len()).is_some() {
            return Err(cx.layer(&l, format!("layer id {id} is used twice")));
        }
        layers.push(l);
    }

    // Edges: producer (layer index, output index) of every (layer index, input index).
    let mut sources: Vec<Vec<Option<(usize, usize)>>> = layers.iter().map(|l| vec![None; l.inputs.len()]).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); layers.len()];
    let mut indegree = vec![0usize; layers.len()];
    if let Some(edges) = root.first("edges") {
        for e in edges.all("edge") {
            let num = |k: &str| {
                e.get(k)
                    .and_then(parse_u64)
                    .ok_or_else(|| cx.format(format!("an <edge> has a missing or non-numeric '{k}'")))
            };
            let (fl, fp, tl, tp) = (num("from-layer")?, num("from-port")?, num("to-layer")?, num("to-port")?);
            let desc = format!("edge {fl}:{fp} -> {tl}:{tp}");
            let &src = by_id.get(&fl).ok_or_else(|| cx.format(format!("{desc}: there is no layer {fl}")))?;
            let &dst = by_id.get(&tl).ok_or_else(|| cx.format(format!("{desc}: there is no layer {tl}")))?;
            let out_idx = layers[src]
                .outputs
                .iter()
                .position(|&p| p == fp)
                .ok_or_else(|| cx.layer(&layers[src], format!("{desc}: the layer has no output port {fp}")))?;
            let in_idx = layers[dst]
                .inputs
                .iter()
                .position(|&p| p == tp)
                .ok_or_else(|| cx.layer(&layers[dst], format!("{desc}: the layer has no input port {tp}")))?;
            if sources[dst][in_idx].is_some() {
                return Err(cx.layer(&layers[dst], format!("{desc}: input port {tp} has two incoming edges")));
            }
            sources[dst][in_idx] = Some((src, out_idx));
            users[src].push(dst);
            indegree[dst] += 1;
        }
    }
    for (i, l) in layers.iter().enumerate() {
        if let Some(k) = sources[i].iter().position(Option::is_none) {
            return Err(cx.layer(l, format!("input port {} has no incoming edge", l.inputs[k])));
        }
    }

    // Topological order, preferring file order, so reading then writing keeps the layout.
    let mut ready: BinaryHeap<Reverse<usize>> = (0..layers.len()).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(layers.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &u in &users[i] {
            indegree[u] -= 1;
            if indegree[u] == 0 {
                ready.push(Reverse(u));
            }
        }
    }
    if order.len() != layers.len() {
        let stuck = (0..layers.len()).find(|&i| indegree[i] > 0).unwrap_or(0);
        return Err(cx.layer(&layers[stuck], "the graph has a cycle through this layer"));
    }

    // Nodes.
    let mut node_of: Vec<Option<NodeId>> = vec![None; layers.len()];
    let mut result_names: Vec<(NodeId, BTreeSet<String>)> = Vec::new();
    for &i in &order {
        let l = &layers[i];
        let inputs: Vec<OutputRef> = sources[i]
            .iter()
            .flatten()
            .map(|&(src, k)| node_of[src].map(|n| OutputRef::new(n, k as u32)))
            .collect::<Option<_>>()
            .ok_or_else(|| cx.layer(l, "an input comes from a layer that was not built"))?;
        let attrs: HashMap<String, String> =
            l.el.first("data").map(|d| d.attrs.iter().cloned().collect()).unwrap_or_default();
        let op = if matches!(l.type_name.as_str(), "Const" | "Constant") {
            Op::Constant(read_const(cx, l, &attrs, bin)?)
        } else {
            let unsupported = || SerializeError::UnsupportedOp {
                path: path.to_path_buf(),
                id: l.id_text.clone(),
                name: l.name.clone(),
                type_name: l.type_name.clone(),
                version: l.version.clone(),
            };
            let known_family = match split_version(&l.version) {
                Some((OPENVINO_OPSET, v)) => v <= MAX_OPSET,
                Some((family, _)) => family == ONNX_EXT_OPSET,
                None => false,
            };
            if !known_family {
                return Err(unsupported());
            }
            if l.type_name == "Parameter" {
                for k in ["shape", "element_type"] {
                    if !attrs.contains_key(k) {
                        return Err(cx.layer(l, format!("missing attribute '{k}' for Parameter")));
                    }
                }
            }
            match Op::from_ir(&l.type_name, &l.version, &attrs) {
                None => return Err(unsupported()),
                Some(Err(e)) => return Err(cx.layer(l, format!("attribute: {e}"))),
                Some(Ok(mut op)) => {
                    if !op.bodies().is_empty() {
                        fill_sub_graph(cx, l, &mut op, bin, depth)?;
                    }
                    op
                }
            }
        };
        let is_result = matches!(op, Op::ResultOp(_));
        let id = model.add_node(op, &l.name, &inputs).map_err(|e| cx.layer(l, e.to_string()))?;
        node_of[i] = Some(id);
        let node = model.node_mut(id).map_err(|e| cx.layer(l, e.to_string()))?;
        if let Some(rt) = l.el.first("rt_info") {
            node.rt_info = read_rt_attributes(rt);
        }
        if !is_result && l.outputs.len() > node.outputs.len() {
            return Err(cx.layer(
                l,
                format!(
                    "the layer declares {} output ports but the op has {} outputs",
                    l.outputs.len(),
                    node.outputs.len()
                ),
            ));
        }
        if let Some(out) = l.el.first("output") {
            for (k, p) in out.all("port").enumerate() {
                let Some(port) = node.outputs.get_mut(k) else { break };
                if let Some(names) = p.get("names") {
                    port.names = split_names(names);
                }
                if let Some(rt) = p.first("rt_info") {
                    port.rt_info = read_rt_attributes(rt);
                }
            }
        }
        if is_result {
            let names = match l.el.get("output_names") {
                Some(n) => split_names(n),
                None => inputs.first().and_then(|&i| model.port(i).ok()).map(|p| p.names.clone()).unwrap_or_default(),
            };
            // `output_names` overrides the names of the tensor the Result exposes.
            if let (Some(&src), true) = (inputs.first(), l.el.get("output_names").is_some()) {
                model.port_mut(src).map_err(|e| cx.layer(l, e.to_string()))?.names = names.clone();
            }
            result_names.push((id, names));
        }
    }
    for (id, names) in result_names {
        if let Some(p) = model.node_mut(id).ok().and_then(|n| n.outputs.first_mut()) {
            p.names = names;
        }
    }

    // Model inputs and outputs in file order.
    let in_file_order = |t: &str| -> Vec<NodeId> {
        (0..layers.len()).filter(|&i| layers[i].type_name == t).filter_map(|i| node_of[i]).collect()
    };
    model.set_parameters(in_file_order("Parameter")).map_err(|e| cx.format(e.to_string()))?;
    let results = in_file_order("Result");
    if results.is_empty() {
        return Err(cx.format("the IR has no Result layer, so the model has no outputs"));
    }
    model.set_results(results).map_err(|e| cx.format(e.to_string()))?;
    let ids = layers.iter().enumerate().filter_map(|(i, l)| Some((parse_u64(&l.id_text)?, node_of[i]?))).collect();
    Ok((model, ids))
}

/// Reads the bodies and port maps of an `If`, `Loop` or `TensorIterator` layer into `op`.
fn fill_sub_graph(cx: &Ctx<'_>, l: &Layer<'_>, op: &mut Op, bin: &Bytes, depth: usize) -> Result<(), SerializeError> {
    use ir_graph::ops::{Body, InputDesc, OutputDesc, SliceAttrs};
    if depth + 1 > ir_graph::ops::MAX_BODY_DEPTH {
        return Err(cx.layer(l, format!("bodies are nested more than {} levels deep", ir_graph::ops::MAX_BODY_DEPTH)));
    }
    let n_in = l.inputs.len() as i64;
    let body = |tag: &str| -> Result<(Model, HashMap<u64, NodeId>), SerializeError> {
        let el = l.el.first(tag).ok_or_else(|| cx.layer(l, format!("missing <{tag}>")))?;
        build_graph(cx, el, bin, depth + 1)
    };
    struct Map {
        inputs: Vec<InputDesc>,
        outputs: Vec<OutputDesc>,
        current_iteration: Option<usize>,
        condition: Option<usize>,
    }
    let port_map = |tag: &str, m: &Model, ids: &HashMap<u64, NodeId>| -> Result<Map, SerializeError> {
        let pm = l.el.first(tag).ok_or_else(|| cx.layer(l, format!("missing <{tag}>")))?;
        let mut back: HashMap<u64, u64> = HashMap::new();
        if let Some(b) = l.el.first("back_edges") {
            for e in b.all("edge") {
                let from = e.get("from-layer").and_then(parse_u64);
                let to = e.get("to-layer").and_then(parse_u64);
                let (Some(from), Some(to)) = (from, to) else {
                    return Err(cx.layer(l, "a back edge has a missing or non-numeric layer id"));
                };
                back.insert(to, from);
            }
        }
        let num = |e: &Element, k: &str, default: Option<i64>| -> Result<i64, SerializeError> {
            match e.get(k) {
                Some(v) => {
                    v.trim().parse().map_err(|_| cx.layer(l, format!("<{tag}> attribute {k}='{v}' is not a number")))
                }
                None => default.ok_or_else(|| cx.layer(l, format!("a <{tag}> entry is missing '{k}'"))),
            }
        };
        let index_of = |list: &[NodeId], layer: u64, what: &str| -> Result<usize, SerializeError> {
            ids.get(&layer)
                .and_then(|n| list.iter().position(|p| p == n))
                .ok_or_else(|| cx.layer(l, format!("<{tag}> names body layer {layer}, which is not a body {what}")))
        };
        let slice = |e: &Element| -> Result<SliceAttrs, SerializeError> {
            Ok(SliceAttrs {
                axis: num(e, "axis", None)?,
                start: num(e, "start", Some(0))?,
                stride: num(e, "stride", Some(1))?,
                part_size: num(e, "part_size", Some(1))?,
                end: num(e, "end", Some(-1))?,
            })
        };
        let mut map = Map { inputs: Vec::new(), outputs: Vec::new(), current_iteration: None, condition: None };
        for e in &pm.children {
            let ext = num(e, "external_port_id", None)?;
            let internal = num(e, "internal_layer_id", None)?;
            let internal =
                u64::try_from(internal).map_err(|_| cx.layer(l, format!("<{tag}> has a negative layer id")))?;
            match e.name.as_str() {
                "input" => {
                    let param = index_of(m.parameters(), internal, "Parameter")?;
                    if e.get("purpose") == Some("current_iteration") {
                        map.current_iteration = Some(param);
                        continue;
                    }
                    let input = usize::try_from(ext)
                        .ok()
                        .filter(|&i| (i as i64) < n_in)
                        .ok_or_else(|| cx.layer(l, format!("<{tag}> names input port {ext}, which does not exist")))?;
                    map.inputs.push(if e.get("axis").is_some() {
                        InputDesc::Sliced { input, param, slice: slice(e)? }
                    } else if let Some(&from) = back.get(&internal) {
                        InputDesc::Merged { input, param, result: index_of(m.results(), from, "Result")? }
                    } else {
                        InputDesc::Invariant { input, param }
                    });
                }
                "output" => {
                    let result = index_of(m.results(), internal, "Result")?;
                    if e.get("purpose") == Some("execution_condition") {
                        map.condition = Some(result);
                        continue;
                    }
                    let output = usize::try_from(ext - n_in)
                        .ok()
                        .filter(|&o| o < l.outputs.len())
                        .ok_or_else(|| cx.layer(l, format!("<{tag}> names output port {ext}, which does not exist")))?;
                    map.outputs.push(if e.get("axis").is_some() {
                        OutputDesc::Concat { result, output, slice: slice(e)? }
                    } else {
                        OutputDesc::Last { result, output }
                    });
                }
                _ => {}
            }
        }
        Ok(map)
    };
    match op {
        Op::If(o) => {
            let (tb, tids) = body("then_body")?;
            let (eb, eids) = body("else_body")?;
            let tm = port_map("then_port_map", &tb, &tids)?;
            let em = port_map("else_port_map", &eb, &eids)?;
            *o = ir_graph::ops::If {
                then_body: Body::new(tb),
                else_body: Body::new(eb),
                then_inputs: tm.inputs,
                else_inputs: em.inputs,
                then_outputs: tm.outputs,
                else_outputs: em.outputs,
            };
        }
        Op::Loop(o) => {
            let (b, ids) = body("body")?;
            let pm = port_map("port_map", &b, &ids)?;
            let condition =
                pm.condition.ok_or_else(|| cx.layer(l, "the port map has no execution_condition output"))?;
            *o = ir_graph::ops::Loop {
                body: Body::new(b),
                inputs: pm.inputs,
                outputs: pm.outputs,
                current_iteration: pm.current_iteration,
                condition,
            };
        }
        Op::TensorIterator(o) => {
            let (b, ids) = body("body")?;
            let pm = port_map("port_map", &b, &ids)?;
            *o = ir_graph::ops::TensorIterator { body: Body::new(b), inputs: pm.inputs, outputs: pm.outputs };
        }
        _ => {}
    }
    Ok(())
}

fn read_const(
    cx: &Ctx<'_>,
    l: &Layer<'_>,
    attrs: &HashMap<String, String>,
    bin: &Bytes,
) -> Result<Constant, SerializeError> {
    let werr = |m: String| SerializeError::Weights {
        path: cx.bin_path.to_path_buf(),
        id: l.id_text.clone(),
        name: l.name.clone(),
        message: m,
    };
    let get = |k: &str| attrs.get(k).ok_or_else(|| cx.layer(l, format!("missing attribute '{k}' for Const")));
    let et_text = get("element_type")?;
    let et = ElementType::from_ir_name(et_text)
        .filter(|t| *t != ElementType::Dynamic)
        .ok_or_else(|| cx.layer(l, format!("unknown or dynamic element_type '{et_text}'")))?;
    let shape_text = get("shape")?;
    let shape: Vec<usize> = if shape_text.trim().is_empty() {
        Vec::new()
    } else {
        shape_text
            .split(',')
            .map(|d| d.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| cx.layer(l, format!("malformed shape '{shape_text}'")))?
    };
    let offset = get("offset")?;
    let offset = parse_u64(offset).ok_or_else(|| cx.layer(l, format!("offset '{offset}' is not a number")))?;
    let size = get("size")?;
    let size = parse_u64(size).ok_or_else(|| cx.layer(l, format!("size '{size}' is not a number")))?;
    if et != ElementType::String {
        let need = ir_graph::shape::checked_numel(&shape)
            .and_then(|n| et.storage_size(n))
            .ok_or_else(|| cx.layer(l, format!("shape {shape:?} of {et} overflows")))?;
        if need as u64 != size {
            return Err(werr(format!("size {size} does not match shape {shape:?} of {et}, which needs {need} bytes")));
        }
    }
    let end = offset.checked_add(size).filter(|&e| e <= bin.len() as u64).ok_or_else(|| {
        werr(format!("offset {offset} + size {size} lies outside the weights file of {} bytes", bin.len()))
    })?;
    let data = bin
        .slice(offset as usize, (end - offset) as usize)
        .ok_or_else(|| werr(format!("offset {offset} + size {size} lies outside the weights file")))?;
    let value = Tensor::from_bytes(et, shape, data).map_err(|e| werr(e.to_string()))?;
    Ok(Constant { value })
}

/// Splits a `names` list on unescaped commas (`\,` is a literal comma).
pub(crate) fn split_names(s: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                cur.push(',');
                chars.next();
            }
            ',' => {
                if !cur.is_empty() {
                    out.insert(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.insert(cur);
    }
    out
}

fn read_rt_attributes(rt: &Element) -> Vec<RtAttribute> {
    rt.all("attribute")
        .map(|a| RtAttribute {
            name: a.get("name").unwrap_or("").to_string(),
            version: a.get("version").unwrap_or("0").to_string(),
            values: a.attrs.iter().filter(|(k, _)| k != "name" && k != "version").cloned().collect(),
        })
        .collect()
}

fn read_model_rt(e: &Element) -> (String, RtValue) {
    let key = if e.name == "info" { e.get("name").unwrap_or("info").to_string() } else { e.name.clone() };
    let value = match e.get("value") {
        Some(v) if e.children.is_empty() => RtValue::Str(v.to_string()),
        _ => RtValue::Map(e.children.iter().map(read_model_rt).collect()),
    };
    (key, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_on_unescaped_commas() {
        let n = split_names("a\\,b,c d,e\\f");
        assert_eq!(n.into_iter().collect::<Vec<_>>(), vec!["a,b", "c d", "e\\f"]);
    }
}
