//! Project automation: `cargo xtask <command>`.
//!
//! - `conformance`: every ONNX backend test case through ONNX -> IR -> read back -> CPU plugin.
//! - `codegen`: regenerate the prost code of `onnx-frontend`.
//! - `test`: every gate CI runs (fmt, clippy, workspace tests, conformance).
//! - `bench`: our CPU plugin against onnxruntime and OpenVINO, in one run.
//! - `bench-convert`: our `ovc` against OpenVINO's (wall time, peak RSS), 3.2 GB model included.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

mod bench;
mod bench_convert;
mod codegen;
mod conformance;
mod test;

#[derive(Parser)]
#[command(name = "xtask", about = "Project automation for the ONNX -> OpenVINO IR toolchain")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the ONNX backend conformance suite through the whole flow.
    Conformance(conformance::Args),
    /// Run one case folder and print its outcome as one JSON line (used by `conformance`).
    #[command(hide = true)]
    ConformanceCase {
        /// Case folder: model.onnx + test_data_set_*.
        dir: PathBuf,
        /// Where to write the IR (model.xml + model.bin).
        #[arg(long)]
        ir_dir: PathBuf,
    },
    /// Regenerate the prost code of onnx-frontend from its onnx.proto.
    Codegen,
    /// Run every gate CI runs: fmt, clippy, the workspace tests and the conformance gate.
    Test,
    /// Median latency of our plugin, onnxruntime and OpenVINO on the bench models.
    Bench {
        /// Thread counts to measure.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 2])]
        threads: Vec<usize>,
        /// Timed iterations per engine and setting.
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        /// Only models whose name contains this.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Our `ovc` against OpenVINO's: wall time and peak RSS on a 3.2 GB model and others.
    BenchConvert {
        /// MatMuls in the big model.
        #[arg(long, default_value_t = 48)]
        layers: usize,
        /// Square size of their weights.
        #[arg(long, default_value_t = 4096)]
        dim: usize,
        /// Runs per tool and setting (the fastest is reported).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Keep the generated big models in target/bench-convert for the next run.
        #[arg(long)]
        keep_models: bool,
        /// Only the big model.
        #[arg(long)]
        big_only: bool,
    },
}

/// The workspace root (the parent of this crate's folder).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn main() {
    let cli = Cli::parse();
    let root = workspace_root();
    let result = match cli.command {
        Command::Conformance(args) => conformance::run(&root, &args),
        Command::ConformanceCase { dir, ir_dir } => conformance::run_case_child(&dir, &ir_dir),
        Command::Codegen => codegen::run(&root).map(|()| 0),
        Command::Test => test::run(&root),
        Command::Bench { threads, iterations, filter } => {
            bench::run(&root, &bench::BenchOptions { threads, iterations, filter }).map(|()| 0)
        }
        Command::BenchConvert { layers, dim, repeat, keep_models, big_only } => {
            let opts = bench_convert::Options { layers, dim, repeat, keep_models, big_only };
            bench_convert::run(&root, &opts).map(|()| 0)
        }
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
