//! `ovc`: converts an ONNX model to OpenVINO IR v11, with OpenVINO's flags and exit codes.

fn main() {
    // Errors, panics included, are reported by `run_ovc` as one `[ ERROR ]` paragraph; the
    // default hook would add Rust's panic banner on top of it.
    std::panic::set_hook(Box::new(|_| {}));
    let code = ovc_cli::run_ovc(std::env::args_os(), &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}
