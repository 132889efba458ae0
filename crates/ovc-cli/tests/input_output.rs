//! `ovc --input` and `--output` in every form OpenVINO's `ovc` accepts, on small ONNX models
//! built here with the prost types: the shapes land in the IR's Parameters (static where the
//! user asks, `-1` / `?` / ranges otherwise), names-only inputs keep their shapes, several
//! inputs at once, and `--output` keeps only the named outputs and what feeds them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use onnx_frontend::proto::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    tensor_proto::DataType, tensor_shape_proto, type_proto,
};
use prost::Message;

/// A dim: a number, or a symbolic name (`dim_param`).
enum D {
    N(i64),
    P(&'static str),
}

fn value_info(name: &str, dims: Option<&[D]>) -> ValueInfoProto {
    let shape = dims.map(|dims| TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| tensor_shape_proto::Dimension {
                value: Some(match d {
                    D::N(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                    D::P(p) => tensor_shape_proto::dimension::Value::DimParam(p.to_string()),
                }),
                ..Default::default()
            })
            .collect(),
    });
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn scalar(name: &str, v: f32) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(v.to_le_bytes().to_vec().into()),
        ..Default::default()
    }
}

fn save(dir: &Path, file: &str, graph: GraphProto) -> PathBuf {
    let model = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(13) }],
        graph: Some(graph),
        ..Default::default()
    };
    let path = dir.join(file);
    std::fs::write(&path, model.encode_to_vec()).expect("write model");
    path
}

/// `y = Relu(x)`, x: f32[batch, 3, h, w]; `z = mask + 1`, mask: f32[batch, seq]; and a
/// third output `t = Sigmoid(Relu(x) * 2)` (so `--output` has something to cut away).
fn two_input_model(dir: &Path) -> PathBuf {
    let x = [D::P("batch"), D::N(3), D::P("h"), D::P("w")];
    let mask = [D::P("batch"), D::P("seq")];
    save(
        dir,
        "two.onnx",
        GraphProto {
            name: Some("two".into()),
            input: vec![value_info("x", Some(&x)), value_info("mask", Some(&mask))],
            initializer: vec![scalar("one", 1.0), scalar("two", 2.0)],
            node: vec![
                node("Relu", "relu", &["x"], &["y"]),
                node("Add", "add_one", &["mask", "one"], &["z"]),
                node("Mul", "double", &["y", "two"], &["d"]),
                node("Sigmoid", "sigmoid", &["d"], &["t"]),
            ],
            output: vec![value_info("y", None), value_info("z", None), value_info("t", None)],
            ..Default::default()
        },
    )
}

fn ovc(model: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ovc"))
        .arg(model)
        .arg("--output_model")
        .arg(out)
        .args(extra)
        .output()
        .expect("run ovc")
}

/// Converts and returns the IR's XML text; the conversion must succeed.
fn convert(model: &Path, out: &Path, extra: &[&str]) -> String {
    let o = ovc(model, out, extra);
    assert_eq!(o.status.code(), Some(0), "ovc {extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    // A pipe is not a terminal: no progress bar, nothing on stderr.
    assert!(o.stderr.is_empty(), "ovc {extra:?} wrote to stderr: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out.with_extension("xml")).expect("read xml")
}

/// The `<layer>` element (up to its closing tag) of the layer named `name`.
fn layer<'a>(xml: &'a str, name: &str) -> &'a str {
    let want = format!(" name=\"{name}\" ");
    let start = xml
        .match_indices("<layer ")
        .map(|(i, _)| i)
        .find(|&i| xml[i..].split('>').next().is_some_and(|tag| tag.contains(&want)))
        .unwrap_or_else(|| panic!("no layer named {name} in\n{xml}"));
    let end = xml[start..].find("</layer>").map(|e| start + e).expect("closing tag");
    &xml[start..end]
}

/// The `shape` attribute of Parameter `name` and the `<dim>`s of its output port.
fn parameter(xml: &str, name: &str) -> (String, Vec<String>) {
    let l = layer(xml, name);
    assert!(l.contains("type=\"Parameter\""), "{name} is not a Parameter:\n{l}");
    let shape = l.split("shape=\"").nth(1).and_then(|s| s.split('"').next()).expect("shape attribute").to_string();
    let dims = l.split("<dim>").skip(1).filter_map(|s| s.split("</dim>").next()).map(str::to_string).collect();
    (shape, dims)
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn without_input_the_declared_dynamic_shapes_stay_dynamic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = two_input_model(dir.path());
    let xml = convert(&model, &dir.path().join("ir/m"), &[]);
    assert_eq!(parameter(&xml, "x"), ("?,3,?,?".into(), s(&["-1", "3", "-1", "-1"])));
    assert_eq!(parameter(&xml, "mask"), ("?,?".into(), s(&["-1", "-1"])));
}

#[test]
fn a_full_static_shape_makes_the_model_static() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = two_input_model(dir.path());
    let xml = convert(&model, &dir.path().join("ir/m"), &["--input", "x[1,3,224,224],mask[1,16]"]);
    assert_eq!(parameter(&xml, "x"), ("1,3,224,224".into(), s(&["1", "3", "224", "224"])));
    assert_eq!(parameter(&xml, "mask"), ("1,16".into(), s(&["1", "16"])));
    // Static everywhere: shape inference ran on the given shapes.
    assert!(!xml.contains("<dim>-1</dim>"), "{xml}");
    assert!(!xml.contains("shape=\"?") && !xml.contains(",?"), "{xml}");
    assert!(xml.contains("<input value=\"x[1,3,224,224],mask[1,16]\" />"), "conversion parameters recorded");
}

#[test]
fn one_input_static_is_static_in_the_ir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = save(
        dir.path(),
        "conv.onnx",
        GraphProto {
            name: Some("g".into()),
            input: vec![value_info("x", Some(&[D::P("n"), D::N(3), D::P("h"), D::P("w")]))],
            node: vec![node("Relu", "relu", &["x"], &["y"]), node("Sigmoid", "sig", &["y"], &["z"])],
            output: vec![value_info("z", None)],
            ..Default::default()
        },
    );
    let xml = convert(&model, &dir.path().join("m"), &["--input", "x[1,3,224,224]"]);
    assert_eq!(parameter(&xml, "x"), ("1,3,224,224".into(), s(&["1", "3", "224", "224"])));
    assert!(!xml.contains("<dim>-1</dim>"), "dynamic dims left in\n{xml}");
    // Unnamed: the shape goes to the first input.
    let xml = convert(&model, &dir.path().join("m2"), &["--input", "[2,3,8,8]"]);
    assert_eq!(parameter(&xml, "x").0, "2,3,8,8");
    assert!(!xml.contains("<dim>-1</dim>"), "{xml}");
}

#[test]
fn question_marks_minus_one_and_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = two_input_model(dir.path());
    let xml = convert(&model, &dir.path().join("q"), &["--input", "x[?,3,224,224]"]);
    assert_eq!(parameter(&xml, "x"), ("?,3,224,224".into(), s(&["-1", "3", "224", "224"])));
    let xml = convert(&model, &dir.path().join("m1"), &["--input", "x[-1,3,-1,224]"]);
    assert_eq!(parameter(&xml, "x"), ("?,3,?,224".into(), s(&["-1", "3", "-1", "224"])));
    // Ranges: bounded dims are written as ranges in `shape`, as -1 in the port (like OpenVINO).
    let xml = convert(&model, &dir.path().join("r"), &["--input", "x[1..8,3,224,224]"]);
    assert_eq!(parameter(&xml, "x"), ("1..8,3,224,224".into(), s(&["-1", "3", "224", "224"])));
    let xml = convert(&model, &dir.path().join("r2"), &["--input", "x[1..8,3,..512,64..],mask[2,1..]"]);
    assert_eq!(parameter(&xml, "x").0, "1..8,3,..512,64..");
    assert_eq!(parameter(&xml, "mask").0, "2,1..");
}

#[test]
fn several_inputs_in_one_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = two_input_model(dir.path());
    let xml = convert(&model, &dir.path().join("m"), &["--input", "x[1,3,224,224],mask[1,?]"]);
    assert_eq!(parameter(&xml, "x"), ("1,3,224,224".into(), s(&["1", "3", "224", "224"])));
    assert_eq!(parameter(&xml, "mask"), ("1,?".into(), s(&["1", "-1"])));
    // Unnamed shapes apply in input order.
    let xml = convert(&model, &dir.path().join("u"), &["--input", "[2,3,4,4],[2,7]"]);
    assert_eq!(parameter(&xml, "x").0, "2,3,4,4");
    assert_eq!(parameter(&xml, "mask").0, "2,7");
    // Names in another order still go to their own inputs.
    let xml = convert(&model, &dir.path().join("o"), &["--input", "mask[5,6],x[5,3,2,2]"]);
    assert_eq!(parameter(&xml, "x").0, "5,3,2,2");
    assert_eq!(parameter(&xml, "mask").0, "5,6");
}

#[test]
fn inputs_by_name_only_keep_their_shapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = two_input_model(dir.path());
    let xml = convert(&model, &dir.path().join("n"), &["--input", "mask,x"]);
    // Like OpenVINO's ovc: the shapes stay as declared and the Parameters keep the model's order.
    assert_eq!(parameter(&xml, "x").0, "?,3,?,?");
    assert_eq!(parameter(&xml, "mask").0, "?,?");
    assert!(xml.find("name=\"x\"") < xml.find("name=\"mask\""));
    // Mixed: one named with a shape, one by name only.
    let xml = convert(&model, &dir.path().join("mix"), &["--input", "x[1,3,8,8],mask"]);
    assert_eq!(parameter(&xml, "x").0, "1,3,8,8");
    assert_eq!(parameter(&xml, "mask").0, "?,?");
    // An input the model does not have is an error that names the real ones.
    let o = ovc(&model, &dir.path().join("bad"), &["--input", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("'nope'") && err.contains("x, mask"), "{err}");
    assert!(!dir.path().join("bad.xml").exists());
    let o = ovc(&model, &dir.path().join("bad2"), &["--input", "nope[1,2]"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn bad_shapes_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = two_input_model(dir.path());
    for spec in ["x[1,3", "x[a,3,2,2]", "x[1,2],[3]"] {
        let o = ovc(&model, &dir.path().join("bad"), &["--input", spec]);
        assert_eq!(o.status.code(), Some(1), "--input {spec}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).starts_with("[ ERROR ]  "), "--input {spec}");
    }
}

#[test]
fn output_keeps_only_the_named_outputs_and_what_feeds_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = two_input_model(dir.path());
    let all = convert(&model, &dir.path().join("all"), &[]);
    assert_eq!(all.matches("type=\"Result\"").count(), 3);

    let xml = convert(&model, &dir.path().join("z"), &["--output", "z"]);
    assert_eq!(xml.matches("type=\"Result\"").count(), 1, "{xml}");
    assert!(xml.contains("name=\"add_one\""), "{xml}");
    // The Relu and the Mul/Sigmoid branch fed only the dropped outputs. The model's inputs
    // stay as they are (OpenVINO keeps every Parameter too).
    for gone in ["name=\"relu\"", "name=\"double\"", "name=\"sigmoid\""] {
        assert!(!xml.contains(gone), "{gone} should be gone:\n{xml}");
    }
    assert_eq!(parameter(&xml, "x").0, "?,3,?,?");
    assert!(xml.contains("<output value=\"z\" />"), "conversion parameters recorded");

    // Two outputs, in the order given.
    let xml = convert(&model, &dir.path().join("ty"), &["--output", "t,y"]);
    assert_eq!(xml.matches("type=\"Result\"").count(), 2, "{xml}");
    assert!(xml.contains("name=\"sigmoid\"") && xml.contains("name=\"relu\""));
    assert!(!xml.contains("name=\"add_one\""), "{xml}");
    let t = xml.find("output_names=\"t\"").expect("t result");
    let y = xml.find("output_names=\"y\"").expect("y result");
    assert!(t < y, "Results in --output order");

    // An intermediate tensor cuts the model there.
    let xml = convert(&model, &dir.path().join("d"), &["--output", "d"]);
    assert_eq!(xml.matches("type=\"Result\"").count(), 1, "{xml}");
    assert!(xml.contains("name=\"double\"") && !xml.contains("name=\"sigmoid\""), "{xml}");

    // Outputs and inputs together.
    let xml = convert(&model, &dir.path().join("both"), &["--input", "x[1,3,4,4]", "--output", "y"]);
    assert_eq!(parameter(&xml, "x").0, "1,3,4,4");
    assert!(!xml.contains("name=\"add_one\""));

    let o = ovc(&model, &dir.path().join("bad"), &["--output", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("'nope'"));
}

#[test]
fn quiet_and_verbose() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = two_input_model(dir.path());
    let o = ovc(&model, &dir.path().join("q"), &["--quiet"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(dir.path().join("q.xml").exists());
    let o = ovc(&model, &dir.path().join("v"), &["--verbose"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("[ INFO ] Pass constant-folding (round 1): "), "{out}");
    assert!(out.contains("[ INFO ] Pass dead-code (round 1): "), "{out}");
    assert!(out.contains("[ INFO ] Wrote the IR in "), "{out}");
    assert!(out.contains("[ SUCCESS ] Total execution time: "), "{out}");
    assert!(o.stderr.is_empty());
}
