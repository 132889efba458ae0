//! Project automation: `cargo xtask <command>`.
//!
//! - `conformance`: every ONNX backend test case through ONNX -> IR -> read back -> CPU plugin.
//! - `codegen`: regenerate the prost code of `onnx-frontend`.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

mod codegen;
mod conformance;

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
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
