//! Running the tools on a bad input and checking the outcome.

use std::path::{Path, PathBuf};
use std::process::Command;

use onnx_frontend::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType, tensor_proto::DataType,
    tensor_shape_proto, type_proto,
};
use prost::Message;

/// Address-space limit for tool runs (KiB): 1.5 GiB. A tool that tried to materialise a
/// declared 10^12-element tensor would die instead of passing.
pub const VM_LIMIT_KIB: u64 = 1536 * 1024;

pub const F32: i32 = DataType::Float as i32;
pub const I64: i32 = DataType::Int64 as i32;

/// What one tool run produced.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Files left in the output folder.
    pub leftovers: Vec<PathBuf>,
}

/// A temporary work folder with an (initially empty) `out/` folder for the tools' output.
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Work {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("out")).expect("out dir");
        Work { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn out(&self) -> PathBuf {
        self.path("out")
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write input");
        p
    }

    pub fn write_model(&self, name: &str, m: &ModelProto) -> PathBuf {
        self.write(name, m.encode_to_vec())
    }

    fn leftovers(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> =
            std::fs::read_dir(self.out()).expect("read out").map(|e| e.expect("entry").path()).collect();
        v.sort();
        v
    }

    /// Runs `ovc model --output_model out/ args...` under the memory limit, in this folder.
    pub fn ovc(&self, model: &Path, args: &[&str]) -> Outcome {
        let mut all: Vec<String> = vec![model.display().to_string(), "--output_model".into(), "out/".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        self.run(env!("CARGO_BIN_EXE_ovc"), &all)
    }

    /// Runs `benchmark_app -m model -niter 1` under the memory limit.
    pub fn benchmark(&self, model: &Path) -> Outcome {
        let all = vec!["-m".to_string(), model.display().to_string(), "-niter".into(), "1".into()];
        self.run(env!("CARGO_BIN_EXE_benchmark_app"), &all)
    }

    pub fn run(&self, exe: &str, args: &[String]) -> Outcome {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v {VM_LIMIT_KIB} && exec \"$0\" \"$@\""))
            .arg(exe)
            .args(args)
            .current_dir(self.dir.path())
            .env("RUST_BACKTRACE", "1")
            .output()
            .expect("run tool");
        Outcome {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            leftovers: self.leftovers(),
        }
    }
}

impl Outcome {
    /// A clean conversion/reading failure: exit 1, one `[ ERROR ]` paragraph containing every
    /// `want`, no panic or backtrace, nothing left in the output folder.
    #[track_caller]
    pub fn failed_with(&self, want: &[&str]) {
        self.failed_with_code(1, want);
    }

    #[track_caller]
    pub fn failed_with_code(&self, code: i32, want: &[&str]) {
        let e = &self.stderr;
        assert_eq!(self.code, Some(code), "exit code; stderr:\n{e}\nstdout:\n{}", self.stdout);
        for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE", "Internal error", "overflowed its stack"] {
            assert!(!e.contains(bad), "stderr mentions '{bad}':\n{e}");
        }
        let text = e.trim();
        assert!(!text.is_empty(), "stderr is empty");
        // Usage errors (2) print clap's usage block, like ovc's argparse; failures print one line.
        if code == 1 {
            assert!(text.starts_with("[ ERROR ]"), "stderr does not start with [ ERROR ]:\n{e}");
            assert_eq!(text.lines().count(), 1, "the error is not one line/paragraph:\n{e}");
        }
        for w in want {
            assert!(e.contains(w), "stderr does not name '{w}':\n{e}");
        }
        assert!(self.leftovers.is_empty(), "files left in the output folder: {:?}", self.leftovers);
    }

    #[track_caller]
    pub fn succeeded(&self) {
        assert_eq!(self.code, Some(0), "stderr:\n{}\nstdout:\n{}", self.stderr, self.stdout);
    }
}

/// Peak resident size of this test process (KiB), from /proc/self/status.
pub fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

// ----- ONNX builders -----

pub fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(format!("{op}_{}", outputs.first().copied().unwrap_or(""))),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub fn with_attr(mut n: NodeProto, a: AttributeProto) -> NodeProto {
    n.attribute.push(a);
    n
}

pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        i: Some(v),
        r#type: Some(AttributeType::Int as i32),
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        ints: v.to_vec(),
        r#type: Some(AttributeType::Ints as i32),
        ..Default::default()
    }
}

pub fn attr_tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        t: Some(t),
        r#type: Some(AttributeType::Tensor as i32),
        ..Default::default()
    }
}

pub fn attr_graph(name: &str, g: GraphProto) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        g: Some(g),
        r#type: Some(AttributeType::Graph as i32),
        ..Default::default()
    }
}

pub fn value_info_raw(name: &str, elem: i32, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn vi(name: &str, dims: &[i64]) -> ValueInfoProto {
    value_info_raw(name, F32, dims)
}

pub fn f32_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(F32),
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into()),
        ..Default::default()
    }
}

pub fn i64_tensor(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(I64),
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

pub fn external_tensor(name: &str, dims: &[i64], entries: &[(&str, &str)]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(F32),
        data_location: Some(onnx_frontend::proto::tensor_proto::DataLocation::External as i32),
        external_data: entries
            .iter()
            .map(|(k, v)| StringStringEntryProto { key: Some(k.to_string()), value: Some(v.to_string()) })
            .collect(),
        ..Default::default()
    }
}

pub fn opset(domain: &str, version: i64) -> OperatorSetIdProto {
    OperatorSetIdProto { domain: Some(domain.into()), version: Some(version) }
}

/// A model with the given graph and `ai.onnx` opset 13.
pub fn model(graph: GraphProto) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![opset("", 13)],
        graph: Some(graph),
        producer_name: Some("hostile-suite".into()),
        ..Default::default()
    }
}

/// `y = Relu(x + w)`, x: f32[2], w an initializer: the valid model most cases break.
pub fn good_graph() -> GraphProto {
    GraphProto {
        name: Some("g".into()),
        input: vec![vi("x", &[2])],
        initializer: vec![f32_tensor("w", &[2], &[1.0, 2.0])],
        node: vec![node("Add", &["x", "w"], &["a"]), node("Relu", &["a"], &["y"])],
        output: vec![vi("y", &[2])],
        ..Default::default()
    }
}

pub fn good_model() -> ModelProto {
    model(good_graph())
}

/// `y = Add(x, w)` with `w` replaced by `init`.
pub fn model_with_initializer(init: TensorProto) -> ModelProto {
    let mut g = good_graph();
    g.initializer = vec![init];
    model(g)
}
