//! Bad IR (`.xml` + `.bin`) through `benchmark_app -m bad.xml -niter 1` (the tool that reads
//! IR) and through `ir_serialize::read_model` in-process.

use crate::common::*;

/// `y = x + w`, x: f32[2], w: Const f32[2] at offset 0 of an 8-byte `.bin`.
const BASE: &str = r#"<?xml version="1.0"?>
<net name="m" version="11">
	<layers>
		<layer id="0" name="x" type="Parameter" version="opset1">
			<data shape="2" element_type="f32" />
			<output>
				<port id="0" precision="FP32" names="x">
					<dim>2</dim>
				</port>
			</output>
		</layer>
		<layer id="1" name="w" type="Const" version="opset1">
			<data element_type="f32" shape="2" offset="0" size="8" />
			<output>
				<port id="0" precision="FP32">
					<dim>2</dim>
				</port>
			</output>
		</layer>
		<layer id="2" name="add" type="Add" version="opset1">
			<data auto_broadcast="numpy" />
			<input>
				<port id="0" precision="FP32">
					<dim>2</dim>
				</port>
				<port id="1" precision="FP32">
					<dim>2</dim>
				</port>
			</input>
			<output>
				<port id="2" precision="FP32" names="y">
					<dim>2</dim>
				</port>
			</output>
		</layer>
		<layer id="3" name="y/sink_port_0" type="Result" version="opset1">
			<input>
				<port id="0" precision="FP32">
					<dim>2</dim>
				</port>
			</input>
		</layer>
	</layers>
	<edges>
		<edge from-layer="0" from-port="0" to-layer="2" to-port="0" />
		<edge from-layer="1" from-port="0" to-layer="2" to-port="1" />
		<edge from-layer="2" from-port="2" to-layer="3" to-port="0" />
	</edges>
	<rt_info />
</net>
"#;

const BIN: [u8; 8] = [0, 0, 128, 63, 0, 0, 0, 64];

fn replaced(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "'{from}' is not in the base IR");
    BASE.replacen(from, to, 1)
}

/// Writes `m.xml` (+ `m.bin` when given) and checks that both `benchmark_app` and the library
/// fail cleanly, naming every `want`.
#[track_caller]
fn refuses(xml: &str, bin: Option<&[u8]>, want: &[&str]) {
    let w = Work::new();
    let xml_path = w.write("m.xml", xml);
    if let Some(b) = bin {
        w.write("m.bin", b);
    }
    let e = ir_serialize::read_model(&xml_path).expect_err("the reader must refuse this IR").to_string();
    for part in want {
        assert!(e.contains(part), "read_model error does not name '{part}': {e}");
    }
    w.benchmark(&xml_path).failed_with(want);
}

#[test]
fn sanity_the_base_ir_reads_and_runs() {
    let w = Work::new();
    let xml = w.write("m.xml", BASE);
    w.write("m.bin", BIN);
    let m = ir_serialize::read_model(&xml).expect("base IR reads");
    assert_eq!(m.node_count(), 4);
    w.benchmark(&xml).succeeded();
}

#[test]
fn missing_bin() {
    refuses(BASE, None, &["m.bin", "weights file of"]);
}

#[test]
fn bin_too_short() {
    refuses(BASE, Some(&BIN[..5]), &["layer id=1 name='w'", "outside the weights file of 5 bytes"]);
}

#[test]
fn const_offset_past_the_end() {
    refuses(&replaced("offset=\"0\"", "offset=\"4\""), Some(&BIN), &["name='w'", "offset 4 + size 8"]);
}

#[test]
fn const_offset_plus_size_overflows() {
    refuses(
        &replaced("offset=\"0\"", "offset=\"18446744073709551615\""),
        Some(&BIN),
        &["name='w'", "outside the weights file"],
    );
}

#[test]
fn const_size_does_not_match_the_shape() {
    refuses(&replaced("size=\"8\"", "size=\"4\""), Some(&BIN), &["name='w'", "size 4 does not match shape [2]"]);
}

#[test]
fn const_absurd_shape() {
    // 10^12 elements claimed with a matching size: checked against the 8-byte file, not allocated.
    refuses(
        &replaced(
            "shape=\"2\" offset=\"0\" size=\"8\"",
            "shape=\"1000000,1000000\" offset=\"0\" size=\"4000000000000\"",
        ),
        Some(&BIN),
        &["name='w'", "outside the weights file of 8 bytes"],
    );
}

#[test]
fn const_malformed_shape() {
    refuses(
        &replaced("shape=\"2\" offset", "shape=\"2,-1\" offset"),
        Some(&BIN),
        &["name='w'", "malformed shape '2,-1'"],
    );
}

#[test]
fn const_unknown_element_type() {
    refuses(
        &replaced("element_type=\"f32\" shape=\"2\" offset", "element_type=\"f31\" shape=\"2\" offset"),
        Some(&BIN),
        &["name='w'", "element_type 'f31'"],
    );
}

#[test]
fn parameter_malformed_shape() {
    refuses(
        &replaced("shape=\"2\" element_type", "shape=\"2,banana\" element_type"),
        Some(&BIN),
        &["name='x'", "Parameter"],
    );
}

#[test]
fn unknown_port_precision() {
    refuses(
        &replaced("precision=\"FP32\" names=\"x\"", "precision=\"FP99\" names=\"x\""),
        Some(&BIN),
        &["name='x'", "FP99"],
    );
}

#[test]
fn malformed_port_dim() {
    refuses(&replaced("<dim>2</dim>", "<dim>two</dim>"), Some(&BIN), &["name='x'", "malformed dimension 'two'"]);
}

#[test]
fn unknown_op() {
    refuses(&replaced("type=\"Add\"", "type=\"FancyAdd\""), Some(&BIN), &["name='add'", "FancyAdd", "not supported"]);
}

#[test]
fn unknown_opset() {
    refuses(
        &replaced("type=\"Add\" version=\"opset1\"", "type=\"Add\" version=\"opset999\""),
        Some(&BIN),
        &["name='add'", "opset999", "not supported"],
    );
}

#[test]
fn unsupported_ir_version() {
    refuses(&replaced("version=\"11\"", "version=\"9\""), Some(&BIN), &["IR version 9 is not supported"]);
}

#[test]
fn edge_to_a_missing_layer() {
    refuses(&replaced("to-layer=\"3\"", "to-layer=\"42\""), Some(&BIN), &["edge 2:2 -> 42:0", "no layer 42"]);
}

#[test]
fn edge_from_an_input_port() {
    refuses(
        &replaced("from-layer=\"2\" from-port=\"2\"", "from-layer=\"2\" from-port=\"0\""),
        Some(&BIN),
        &["name='add'", "has no output port 0"],
    );
}

#[test]
fn edge_into_an_output_port() {
    refuses(
        &replaced("to-layer=\"2\" to-port=\"1\"", "to-layer=\"2\" to-port=\"2\""),
        Some(&BIN),
        &["name='add'", "has no input port 2"],
    );
}

#[test]
fn input_port_without_edge() {
    refuses(
        &replaced("<edge from-layer=\"1\" from-port=\"0\" to-layer=\"2\" to-port=\"1\" />", ""),
        Some(&BIN),
        &["name='add'", "input port 1 has no incoming edge"],
    );
}

#[test]
fn two_edges_into_one_port() {
    refuses(
        &replaced(
            "<edge from-layer=\"1\" from-port=\"0\" to-layer=\"2\" to-port=\"1\" />",
            "<edge from-layer=\"1\" from-port=\"0\" to-layer=\"2\" to-port=\"0\" />",
        ),
        Some(&BIN),
        &["name='add'", "two incoming edges"],
    );
}

#[test]
fn cycle() {
    // add's second input comes from add itself.
    refuses(
        &replaced("from-layer=\"1\" from-port=\"0\" to-layer=\"2\"", "from-layer=\"2\" from-port=\"2\" to-layer=\"2\""),
        Some(&BIN),
        &["name='add'", "cycle"],
    );
}

#[test]
fn duplicate_layer_id() {
    refuses(&replaced("<layer id=\"3\"", "<layer id=\"2\""), Some(&BIN), &["layer id 2 is used twice"]);
}

#[test]
fn no_result_layer() {
    let xml = replaced("type=\"Result\"", "type=\"ReLU\"").replacen(
        "<edge from-layer=\"2\" from-port=\"2\" to-layer=\"3\" to-port=\"0\" />",
        "",
        1,
    );
    // The ReLU now has an input without an edge; drop its input section as well.
    let xml = xml.replacen(
        "<layer id=\"3\" name=\"y/sink_port_0\" type=\"ReLU\" version=\"opset1\">\n\t\t\t<input>\n\t\t\t\t<port id=\"0\" precision=\"FP32\">\n\t\t\t\t\t<dim>2</dim>\n\t\t\t\t</port>\n\t\t\t</input>\n\t\t</layer>",
        "",
        1,
    );
    refuses(&xml, Some(&BIN), &["no Result layer"]);
}

#[test]
fn dtd_with_entity_bomb() {
    let bomb = "<!DOCTYPE net [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>";
    let xml = BASE.replacen("<?xml version=\"1.0\"?>\n", &format!("<?xml version=\"1.0\"?>\n{bomb}\n"), 1);
    refuses(&xml, Some(&BIN), &["m.xml", "DTDs are not allowed"]);
}

#[test]
fn undeclared_entity() {
    refuses(&replaced("name=\"m\"", "name=\"&boom;\""), Some(&BIN), &["m.xml", "malformed XML"]);
}

#[test]
fn malformed_xml() {
    refuses(&replaced("</edges>", "</edgez>"), Some(&BIN), &["m.xml", "malformed XML"]);
}

#[test]
fn not_utf8() {
    let mut bytes = BASE.as_bytes().to_vec();
    bytes.splice(60..60, [0xff, 0xfe]);
    let w = Work::new();
    let xml = w.write("m.xml", &bytes);
    w.write("m.bin", BIN);
    assert!(ir_serialize::read_model(&xml).is_err());
    w.benchmark(&xml).failed_with(&["m.xml"]);
}

#[test]
fn element_nesting_bomb() {
    let deep = format!("{}{}", "<a>".repeat(200_000), "</a>".repeat(200_000));
    refuses(&replaced("<rt_info />", &deep), Some(&BIN), &["m.xml", "nested more than"]);
}

#[test]
fn wrong_root_element() {
    refuses("<?xml version=\"1.0\"?>\n<html><body /></html>\n", None, &["root element is <html>"]);
}

#[test]
fn reading_hostile_ir_in_process_keeps_memory_bounded() {
    let before = vm_hwm_kib();
    let w = Work::new();
    let xml = replaced(
        "shape=\"2\" offset=\"0\" size=\"8\"",
        "shape=\"1000000,1000000\" offset=\"0\" size=\"4000000000000\"",
    );
    let p = w.write("m.xml", xml);
    w.write("m.bin", BIN);
    assert!(ir_serialize::read_model(&p).is_err());
    let after = vm_hwm_kib();
    assert!(after < before + 512 * 1024, "peak RSS grew from {before} to {after} KiB");
}

#[test]
fn fuzz_regressions_scalars_where_rank_is_needed() {
    // Found by `cargo fuzz run ir_read`: a Parameter without <data> was read as a scalar, and
    // Concat / TopK of scalars indexed past the end of the shape during inference. Both holes
    // are closed (Parameter needs its attributes; the ops refuse scalars).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/ir_read");
    for name in ["concat-of-scalars", "topk-of-scalar"] {
        let data = std::fs::read(dir.join(name)).expect("regression input");
        let e = ovc_cli::fuzzing::read_ir_input(&data).expect("splits").expect_err("must be refused");
        assert!(e.contains("layer id="), "{name}: {e}");
    }
    // The ops themselves refuse scalars, whatever produced them.
    let scalar = |id: u32, name: &str| {
        format!(
            "<layer id=\"{id}\" name=\"{name}\" type=\"Parameter\" version=\"opset1\"><data shape=\"\" element_type=\"f32\" />\
             <output><port id=\"0\" precision=\"FP32\" /></output></layer>"
        )
    };
    let xml = format!(
        "<net name=\"s\" version=\"11\"><layers>{}{}\
         <layer id=\"2\" name=\"cat\" type=\"Concat\" version=\"opset1\"><data axis=\"0\" />\
         <input><port id=\"0\" precision=\"FP32\" /><port id=\"1\" precision=\"FP32\" /></input>\
         <output><port id=\"2\" precision=\"FP32\" /></output></layer>\
         <layer id=\"3\" name=\"r\" type=\"Result\" version=\"opset1\"><input><port id=\"0\" precision=\"FP32\" /></input></layer>\
         </layers><edges><edge from-layer=\"0\" from-port=\"0\" to-layer=\"2\" to-port=\"0\" />\
         <edge from-layer=\"1\" from-port=\"0\" to-layer=\"2\" to-port=\"1\" />\
         <edge from-layer=\"2\" from-port=\"2\" to-layer=\"3\" to-port=\"0\" /></edges></net>",
        scalar(0, "a"),
        scalar(1, "b")
    );
    let e = ir_serialize::read_model_from(&xml, ir_graph::Bytes::empty()).expect_err("scalars").to_string();
    assert!(e.contains("name='cat'") && e.contains("axis 0 is out of range for rank 0"), "{e}");
}
