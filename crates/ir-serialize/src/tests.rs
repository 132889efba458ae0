//! Snapshot tests of the XML for tiny models, round trips, and reader error handling.

use std::collections::BTreeSet;
use std::path::Path;

use ir_graph::ops::{Add, Convert, LogicalAnd, LogicalNot, MatMul, Relu, Reshape};
use ir_graph::{Bytes, Dim, ElementType, Model, NodeId, Op, OutputRef, PartialShape, RtValue, Tensor};

use crate::{SaveOptions, SerializeError, read_model, read_model_from, save_model, serialize};

/// XML text and .bin bytes of `model`.
fn write(model: &Model, compress: bool) -> (String, Vec<u8>) {
    let mut bin = Vec::new();
    let xml =
        serialize(model, &SaveOptions { compress_to_fp16: compress }, &mut bin, Path::new("m.xml")).expect("serialize");
    (xml, bin)
}

/// Writes, reads back, writes again: both writes must be byte-identical.
fn assert_round_trip(model: &Model, compress: bool) -> Model {
    let (xml, bin) = write(model, compress);
    let back = read_model_from(&xml, Bytes::from_pod_vec(bin.clone())).expect("read back");
    let (xml2, bin2) = write(&back, compress);
    assert_eq!(xml, xml2, "XML changed on the second write");
    assert_eq!(bin, bin2, ".bin changed on the second write");
    back
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn f32_const(m: &mut Model, name: &str, shape: Vec<usize>, values: Vec<f32>) -> NodeId {
    let id = m.add_const(name, Tensor::from_vec(shape, values).expect("tensor")).expect("const");
    m.port_mut(id.into()).expect("port").names = names(&[name]);
    id
}

fn ovc_rt_info(m: &mut Model) {
    m.rt_info = vec![
        ("OpenVINO Runtime".into(), RtValue::Str("test".into())),
        ("Runtime_version".into(), RtValue::Str("test".into())),
        (
            "conversion_parameters".into(),
            RtValue::Map(vec![
                ("compress_to_fp16".into(), RtValue::Str("False".into())),
                ("is_python_object".into(), RtValue::Str("False".into())),
            ]),
        ),
    ];
}

fn names_model() -> Model {
    let mut m = Model::new("names & <escapes>");
    let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[2])).expect("param");
    m.port_mut(x.into()).expect("port").names = names(&["x", "a,b", "c d", "e\\f", "q\"<&>'"]);
    let r = m.add_node(Relu {}, "y", &[x.into()]).expect("relu");
    m.port_mut(r.into()).expect("port").names = names(&["y", "y,alias"]);
    m.add_result("y/sink_port_0", r.into()).expect("result");
    m
}

#[test]
fn snapshot_tensor_names_with_commas() {
    let m = names_model();
    let (xml, bin) = write(&m, false);
    assert!(bin.is_empty());
    insta::assert_snapshot!("names_with_commas", xml);
    let back = assert_round_trip(&m, false);
    let x = back.parameters()[0];
    assert_eq!(back.port(x.into()).expect("port").names, names(&["x", "a,b", "c d", "e\\f", "q\"<&>'"]));
    assert_eq!(back.name, "names & <escapes>");
}

fn dynamic_model() -> Model {
    let mut m = Model::new("dynamic");
    let shape =
        PartialShape::Ranked(vec![Dim::DYNAMIC, Dim::interval(1, Some(10)), Dim::interval(0, Some(5)), Dim::fixed(3)]);
    let a = m.add_parameter("a", ElementType::F32, shape).expect("param");
    let b = m.add_parameter("b", ElementType::F32, PartialShape::DynamicRank).expect("param");
    let s = m.add_parameter("s", ElementType::F32, PartialShape::scalar()).expect("param");
    let c = m.add_parameter("c", ElementType::F32, PartialShape::Ranked(vec![Dim::interval(2, None)])).expect("param");
    for (p, n) in [(a, "a"), (b, "b"), (s, "s"), (c, "c")] {
        m.port_mut(p.into()).expect("port").names = names(&[n]);
        let r = m.add_node(Relu {}, &format!("{n}_relu"), &[p.into()]).expect("relu");
        m.port_mut(r.into()).expect("port").names = names(&[&format!("{n}_out")]);
        m.add_result(&format!("{n}_out/sink_port_0"), r.into()).expect("result");
    }
    m
}

#[test]
fn snapshot_dynamic_dims() {
    let m = dynamic_model();
    let (xml, _) = write(&m, false);
    insta::assert_snapshot!("dynamic_dims", xml);
    let back = assert_round_trip(&m, false);
    let shapes: Vec<String> =
        back.parameters().iter().map(|&p| back.port(p.into()).expect("port").shape.to_ir_string()).collect();
    assert_eq!(shapes, vec!["?,1..10,..5,3", "...", "", "2.."]);
}

fn fp16_model() -> Model {
    let mut m = Model::new("fp16");
    ovc_rt_info(&mut m);
    let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[1, 4])).expect("param");
    m.port_mut(x.into()).expect("port").names = names(&["x"]);
    let w = f32_const(&mut m, "W", vec![4, 4], (0..16).map(|i| i as f32 * 0.5 - 3.0).collect());
    let mm = m.add_node(MatMul { transpose_a: false, transpose_b: true }, "mm", &[x.into(), w.into()]).expect("mm");
    // 3 of 4 values out of f16 range: OpenVINO keeps such a constant in f32.
    let big = f32_const(&mut m, "big", vec![1, 4], vec![1e6, -1e6, 1e-30, 1.0]);
    let add = m.add_node(Add::default(), "add", &[mm.into(), big.into()]).expect("add");
    // A float constant that computes a shape: stays f32 and gets DisablePrecisionConversion.
    let shape_f = f32_const(&mut m, "shape_f", vec![2], vec![2.0, 2.0]);
    let shape_i =
        m.add_node(Convert { destination_type: ElementType::I64 }, "shape_i", &[shape_f.into()]).expect("convert");
    let r = m.add_node(Reshape { special_zero: false }, "y", &[add.into(), shape_i.into()]).expect("reshape");
    m.port_mut(r.into()).expect("port").names = names(&["y"]);
    m.add_result("y/sink_port_0", r.into()).expect("result");
    // An f64 constant compresses too, with a Convert back to f64.
    let d = m.add_const("d64", Tensor::from_vec(vec![2], vec![0.25f64, -8.0]).expect("tensor")).expect("const");
    m.add_result("d64/sink_port_0", d.into()).expect("result");
    m
}

#[test]
fn snapshot_fp16_compression() {
    let m = fp16_model();
    let (xml, bin) = write(&m, true);
    insta::assert_snapshot!("fp16_compression", xml);
    // W (16 values) as f16, big (4) and shape_f (2) as f32, d64 (2) as f16.
    assert_eq!(bin.len(), 16 * 2 + 4 * 4 + 2 * 4 + 2 * 2);
    let back = assert_round_trip(&m, true);
    let kinds: Vec<(String, ElementType)> = back
        .nodes()
        .filter_map(|(_, n)| match &n.op {
            Op::Constant(c) => Some((n.name.clone(), c.value.element_type())),
            _ => None,
        })
        .collect();
    assert!(kinds.contains(&("W_compressed".to_string(), ElementType::F16)));
    assert!(kinds.contains(&("big".to_string(), ElementType::F32)));
    assert!(kinds.contains(&("shape_f".to_string(), ElementType::F32)));
    let convert = back.nodes().find(|(_, n)| n.name == "W").expect("decompression Convert");
    assert!(matches!(convert.1.op, Op::Convert(_)));
    assert!(convert.1.rt_info.iter().any(|a| a.name == "decompression"));
    // The tensor name stays on the f16 constant, as in OpenVINO's output.
    let wc = back.nodes().find(|(_, n)| n.name == "W_compressed").expect("W_compressed");
    assert_eq!(wc.1.outputs[0].names, names(&["W"]));
    // Uncompressed writing of the same model keeps every float constant f32.
    let (xml32, _) = write(&m, false);
    assert!(!xml32.contains("f16") && !xml32.contains("DisablePrecisionConversion"));
}

fn shared_const_model() -> Model {
    let mut m = Model::new("shared");
    let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[4])).expect("param");
    let c = f32_const(&mut m, "c", vec![4], vec![1.0, 2.0, 3.0, 4.0]);
    let twin = f32_const(&mut m, "twin", vec![4], vec![1.0, 2.0, 3.0, 4.0]);
    let other = f32_const(&mut m, "other", vec![4], vec![5.0, 6.0, 7.0, 8.0]);
    let a1 = m.add_node(Add::default(), "a1", &[x.into(), c.into()]).expect("add");
    let a2 = m.add_node(Add::default(), "a2", &[a1.into(), c.into()]).expect("add");
    let a3 = m.add_node(Add::default(), "a3", &[a2.into(), twin.into()]).expect("add");
    let a4 = m.add_node(Add::default(), "a4", &[a3.into(), other.into()]).expect("add");
    m.add_result("a4/sink_port_0", a4.into()).expect("result");
    m
}

#[test]
fn snapshot_shared_constant_stored_once() {
    let m = shared_const_model();
    let (xml, bin) = write(&m, false);
    insta::assert_snapshot!("shared_constant", xml);
    // c and its identical twin share one payload; other gets its own.
    assert_eq!(bin.len(), 32);
    assert_eq!(xml.matches("offset=\"0\" size=\"16\"").count(), 2);
    assert_eq!(xml.matches("offset=\"16\" size=\"16\"").count(), 1);
    let back = assert_round_trip(&m, false);
    // The reader maps both constants onto the same bytes of the .bin.
    let consts: Vec<&Tensor> = back
        .nodes()
        .filter_map(|(_, n)| match &n.op {
            Op::Constant(c) if n.name != "other" => Some(&c.value),
            _ => None,
        })
        .collect();
    assert_eq!(consts.len(), 2);
    assert!(consts[0].data().same_view(consts[1].data()));
}

fn int_bool_model() -> Model {
    let mut m = Model::new("ints");
    let x = m.add_parameter("x", ElementType::I64, PartialShape::fixed(&[3])).expect("param");
    m.port_mut(x.into()).expect("port").names = names(&["x"]);
    let k = m.add_const("k", Tensor::from_vec(vec![3], vec![-1i64, 0, i64::MAX]).expect("tensor")).expect("const");
    let s = m.add_node(Add::default(), "sum", &[x.into(), k.into()]).expect("add");
    m.port_mut(s.into()).expect("port").names = names(&["sum"]);
    m.add_result("sum/sink_port_0", s.into()).expect("result");
    let b = m.add_parameter("b", ElementType::Boolean, PartialShape::fixed(&[3])).expect("param");
    m.port_mut(b.into()).expect("port").names = names(&["b"]);
    let mask = m.add_const("mask", Tensor::from_bools(vec![3], &[true, false, true]).expect("tensor")).expect("const");
    let and = m.add_node(LogicalAnd::default(), "and", &[b.into(), mask.into()]).expect("and");
    let not = m.add_node(LogicalNot {}, "not", &[and.into()]).expect("not");
    m.port_mut(not.into()).expect("port").names = names(&["not"]);
    m.add_result("not/sink_port_0", not.into()).expect("result");
    m
}

#[test]
fn snapshot_i64_and_boolean() {
    let m = int_bool_model();
    let (xml, bin) = write(&m, true);
    insta::assert_snapshot!("i64_and_boolean", xml);
    assert_eq!(bin.len(), 24 + 3);
    // OpenVINO's order visits the last output's subgraph first, so the mask comes first.
    assert_eq!(&bin[..3], &[1, 0, 1]);
    let back = assert_round_trip(&m, true);
    let k = back.nodes().find(|(_, n)| n.name == "k").expect("k");
    match &k.1.op {
        Op::Constant(c) => assert_eq!(c.value.to_i64_vec().expect("i64"), vec![-1, 0, i64::MAX]),
        other => panic!("k is {other:?}"),
    }
}

#[test]
fn model_rt_info_round_trips() {
    let mut m = names_model();
    ovc_rt_info(&mut m);
    let back = assert_round_trip(&m, false);
    assert_eq!(back.rt_info, m.rt_info);
    let (xml, _) = write(&m, false);
    assert!(xml.contains("\t\t<info name=\"OpenVINO Runtime\" value=\"test\" />\n"));
    assert!(xml.contains("\t\t<conversion_parameters>\n\t\t\t<compress_to_fp16 value=\"False\" />\n"));
}

#[test]
fn files_are_written_atomically_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let xml = dir.path().join("deep/er/model.xml");
    let m = fp16_model();
    save_model(&m, &xml, &SaveOptions { compress_to_fp16: true }).expect("save");
    let listing: Vec<String> = std::fs::read_dir(xml.parent().expect("parent"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut listing = listing;
    listing.sort();
    assert_eq!(listing, vec!["model.bin", "model.xml"], "no temporaries may remain");
    let back = read_model(&xml).expect("read");
    assert_eq!(back.parameters().len(), 1);
    assert_eq!(back.results().len(), 2);

    // A failing write (a cycle-free but dangling model) leaves nothing behind.
    let mut bad = Model::new("bad");
    let x = bad.add_parameter("x", ElementType::F32, PartialShape::fixed(&[1])).expect("param");
    let r = bad.add_node(Relu {}, "r", &[x.into()]).expect("relu");
    bad.add_result("r/sink_port_0", r.into()).expect("result");
    bad.node_mut(r).expect("node").inputs = vec![OutputRef::new(NodeId(99), 0)];
    let out = dir.path().join("bad/model.xml");
    let err = save_model(&bad, &out, &SaveOptions::default()).expect_err("dangling input");
    assert!(err.to_string().contains("does not exist"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("bad")).expect("ls").collect();
    assert!(left.is_empty(), "partial files remain: {left:?}");
}

#[test]
fn writer_rejects_cycles() {
    let mut m = Model::new("cycle");
    let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[1])).expect("param");
    let a = m.add_node(Add::default(), "a", &[x.into(), x.into()]).expect("add");
    let b = m.add_node(Relu {}, "b", &[a.into()]).expect("relu");
    m.add_result("b/sink_port_0", b.into()).expect("result");
    m.node_mut(a).expect("node").inputs[1] = b.into();
    let mut sink = Vec::new();
    let err = serialize(&m, &SaveOptions::default(), &mut sink, Path::new("c.xml")).expect_err("cycle");
    assert!(err.to_string().contains("cycle"), "{err}");
}

/// A valid small IR to mutate in the error tests.
fn base_ir() -> (String, Vec<u8>) {
    write(&shared_const_model(), false)
}

fn read_err(xml: &str, bin: Vec<u8>) -> String {
    match read_model_from(xml, Bytes::from_pod_vec(bin)) {
        Ok(_) => panic!("expected an error for:\n{xml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reader_errors_are_clear() {
    let (xml, bin) = base_ir();
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        (xml.replace("size=\"16\"", "size=\"12\""), bin.clone(), "does not match shape"),
        (xml.clone(), bin[..20].to_vec(), "outside the weights file"),
        (xml.replace("offset=\"16\"", "offset=\"99999999999\""), bin.clone(), "outside the weights file"),
        (
            xml.replace("type=\"Relu\"", "type=\"Nope\"").replace("type=\"Add\"", "type=\"FancyOp\""),
            bin.clone(),
            "operation FancyOp of version opset1 is not supported",
        ),
        (xml.replace("version=\"opset1\">", "version=\"opset99x\">"), bin.clone(), "is not supported"),
        (xml.replace("to-layer=\"5\"", "to-layer=\"77\""), bin.clone(), "there is no layer 77"),
        (xml.replace("from-port=\"2\"", "from-port=\"9\""), bin.clone(), "has no output port 9"),
        (
            xml.replace("element_type=\"f32\" shape=\"4\"", "element_type=\"f33\" shape=\"4\""),
            bin.clone(),
            "unknown or dynamic element_type 'f33'",
        ),
        (xml.replace("shape=\"4\" element_type", "shape=\"4,x\" element_type"), bin.clone(), "attribute"),
        (
            xml.replace("element_type=\"f32\" shape=\"4\"", "element_type=\"f32\" shape=\"-4\""),
            bin.clone(),
            "malformed shape",
        ),
        (xml.replace("version=\"11\"", "version=\"12\""), bin.clone(), "IR version 12 is not supported"),
        (xml.replace(" precision=\"FP32\"", ""), bin.clone(), "precision"),
        (format!("<!DOCTYPE net>{xml}"), bin.clone(), "DTD"),
        (xml.replace("<edges>", "<edges"), bin.clone(), "malformed XML"),
    ];
    for (i, (x, b, want)) in cases.into_iter().enumerate() {
        let msg = read_err(&x, b);
        assert!(msg.contains(want), "case {i}: '{msg}' does not contain '{want}'");
    }
}

#[test]
fn reader_detects_cycles_and_missing_inputs() {
    // Two Relus feeding each other.
    let xml = r#"<?xml version="1.0"?>
<net name="c" version="11">
	<layers>
		<layer id="0" name="a" type="ReLU" version="opset1"><input><port id="0" precision="FP32" /></input><output><port id="1" precision="FP32" /></output></layer>
		<layer id="1" name="b" type="ReLU" version="opset1"><input><port id="0" precision="FP32" /></input><output><port id="1" precision="FP32" /></output></layer>
	</layers>
	<edges>
		<edge from-layer="0" from-port="1" to-layer="1" to-port="0" />
		<edge from-layer="1" from-port="1" to-layer="0" to-port="0" />
	</edges>
</net>"#;
    assert!(read_err(xml, Vec::new()).contains("cycle"));
    let dangling = xml.replace("<edge from-layer=\"1\" from-port=\"1\" to-layer=\"0\" to-port=\"0\" />", "");
    assert!(read_err(&dangling, Vec::new()).contains("no incoming edge"));
}

#[test]
fn missing_bin_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let xml = dir.path().join("m.xml");
    save_model(&shared_const_model(), &xml, &SaveOptions::default()).expect("save");
    std::fs::remove_file(dir.path().join("m.bin")).expect("rm");
    let err = read_model(&xml).expect_err("missing bin");
    assert!(matches!(err, SerializeError::Io { .. }));
    assert!(err.to_string().contains("m.bin"), "{err}");
    // Without constants the .bin is not needed.
    let xml2 = dir.path().join("n.xml");
    save_model(&names_model(), &xml2, &SaveOptions::default()).expect("save");
    std::fs::remove_file(dir.path().join("n.bin")).expect("rm");
    read_model(&xml2).expect("no weights needed");
}

#[test]
fn duplicate_friendly_names_get_suffixes() {
    let mut m = Model::new("dups");
    let x = m.add_parameter("n", ElementType::F32, PartialShape::fixed(&[1])).expect("param");
    let r = m.add_node(Relu {}, "n", &[x.into()]).expect("relu");
    let r2 = m.add_node(Relu {}, "n", &[r.into()]).expect("relu");
    m.add_result("n", r2.into()).expect("result");
    let (xml, _) = write(&m, false);
    for name in ["name=\"n\"", "name=\"n0\"", "name=\"n1\"", "name=\"n2\""] {
        assert!(xml.contains(name), "{name} missing in\n{xml}");
    }
}

/// Big constants are fingerprinted from a sample of their chunks; two that differ only in an
/// unsampled chunk must still be stored apart, and equal ones once.
#[test]
fn big_constants_differing_outside_the_hash_sample_are_not_merged() {
    let len = 200 * crate::fp16::CHUNK / 4; // 200 chunks of f32 output, sampled, not all hashed
    let base: Vec<f32> = (0..len).map(|i| (i % 977) as f32).collect();
    let mut other = base.clone();
    // Chunk 1 is not among the evenly spaced samples of 200 chunks (0, 6, 12, ...).
    other[crate::fp16::CHUNK / 4 + 3] = -1.0;
    let mut m = Model::new("big");
    let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[len])).expect("param");
    let a = f32_const(&mut m, "a", vec![len], base.clone());
    let twin = f32_const(&mut m, "twin", vec![len], base);
    let b = f32_const(&mut m, "b", vec![len], other);
    let s1 = m.add_node(Add::default(), "s1", &[x.into(), a.into()]).expect("add");
    let s2 = m.add_node(Add::default(), "s2", &[s1.into(), twin.into()]).expect("add");
    let s3 = m.add_node(Add::default(), "s3", &[s2.into(), b.into()]).expect("add");
    m.add_result("s3/sink_port_0", s3.into()).expect("result");
    let (xml, bin) = write(&m, false);
    assert_eq!(bin.len(), 2 * 4 * len, "a and twin share bytes, b has its own");
    assert_eq!(xml.matches(&format!("offset=\"0\" size=\"{}\"", 4 * len)).count(), 2);
    assert_eq!(xml.matches(&format!("offset=\"{}\" size=\"{}\"", 4 * len, 4 * len)).count(), 1);
}

/// `x` (string Parameter) == Const ["hello", "", "wörld"].
fn string_model() -> Model {
    let mut m = Model::new("strings");
    let x = m.add_parameter("x", ElementType::String, PartialShape::fixed(&[3])).expect("param");
    m.port_mut(x.into()).expect("port").names = names(&["x"]);
    let words: Vec<String> = ["hello", "", "wörld"].iter().map(|s| s.to_string()).collect();
    let c = m.add_const("c", Tensor::from_strings(vec![3], &words).expect("strings")).expect("const");
    let eq = m.add_node(ir_graph::ops::Equal::default(), "eq", &[x.into(), c.into()]).expect("equal");
    m.port_mut(eq.into()).expect("port").names = names(&["eq"]);
    m.add_result("eq/sink_port_0", eq.into()).expect("result");
    m.add_result("x/sink_port_0", x.into()).expect("result");
    m
}

/// i32 count, count + 1 i32 end offsets from 0, then the UTF-8 bytes.
fn packed_strings(values: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(values.len() as i32).to_le_bytes());
    let mut end = 0i32;
    out.extend_from_slice(&end.to_le_bytes());
    for v in values {
        end += v.len() as i32;
        out.extend_from_slice(&end.to_le_bytes());
    }
    for v in values {
        out.extend_from_slice(v.as_bytes());
    }
    out
}

#[test]
fn string_consts_pack_count_offsets_then_bytes() {
    let m = string_model();
    let (xml, bin) = write(&m, false);
    // As OpenVINO 2026.4 writes them: lowercase element type, STRING precision, size in bytes.
    assert!(xml.contains(r#"<data shape="3" element_type="string" />"#), "{xml}");
    assert!(xml.contains(r#"<data element_type="string" shape="3" offset="0" size="31" />"#), "{xml}");
    assert!(xml.contains(r#"<port id="0" precision="STRING" names="x">"#), "{xml}");
    let mut want: Vec<u8> = Vec::new();
    for v in [3i32, 0, 5, 5, 11] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    want.extend_from_slice("hellowörld".as_bytes());
    assert_eq!(bin, want);
    assert_eq!(packed_strings(&["hello", "", "wörld"]), want);

    let back = assert_round_trip(&m, false);
    let (_, c) = back.nodes().find(|(_, n)| matches!(n.op, Op::Constant(_))).expect("const");
    let Op::Constant(c) = &c.op else { unreachable!() };
    assert_eq!(c.value.strings().expect("strings"), vec!["hello", "", "wörld"]);
    let x = back.parameters()[0];
    assert_eq!(back.port(x.into()).expect("port").element_type, ElementType::String);
    let r = back.results().iter().map(|&r| back.node(r).expect("result").inputs[0]).collect::<Vec<_>>();
    assert_eq!(back.port(r[1]).expect("port").element_type, ElementType::String);
}

/// `x` split on a Const delimiter by our own `StringSplit` (opset `onnx_ext1`).
fn string_split_model() -> Model {
    let mut m = Model::new("split");
    let x = m.add_parameter("x", ElementType::String, PartialShape::fixed(&[3])).expect("param");
    let d = m.add_const("d", Tensor::from_strings(vec![], &[", ".to_string()]).expect("strings")).expect("const");
    let split = m.add_node(ir_graph::ops::StringSplit { maxsplit: 2 }, "split", &[x.into(), d.into()]).expect("split");
    m.add_result("parts/sink_port_0", OutputRef::new(split, 0)).expect("result");
    m.add_result("counts/sink_port_0", OutputRef::new(split, 1)).expect("result");
    m
}

#[test]
fn own_opset_round_trips_under_its_own_name_only() {
    let m = string_split_model();
    let (xml, bin) = write(&m, false);
    assert!(xml.contains(r#"type="StringSplit" version="onnx_ext1""#), "{xml}");
    assert!(xml.contains(r#"<data maxsplit="2" />"#), "{xml}");
    assert!(xml.contains(r#"<data element_type="string" shape="" offset="0" size="14" />"#), "{xml}");
    assert_eq!(bin, packed_strings(&[", "]));
    let back = assert_round_trip(&m, false);
    let (_, split) = back.nodes().find(|(_, n)| n.op.type_name() == "StringSplit").expect("split");
    assert_eq!(split.op, Op::StringSplit(ir_graph::ops::StringSplit { maxsplit: 2 }));

    let renamed = xml.replace(r#"version="onnx_ext1""#, r#"version="opset1""#);
    assert!(read_model_from(&renamed, Bytes::from_pod_vec(bin.clone())).is_err());
    let unknown = xml.replace(r#"version="onnx_ext1""#, r#"version="other_ext1""#);
    assert!(read_model_from(&unknown, Bytes::from_pod_vec(bin)).is_err());
}
