//! ONNX bytes -> convert (decode, structural checks, translation, constant folding).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Same entry point as the corpus replay test; errors are expected, panics are bugs.
    let _ = ovc_cli::fuzzing::convert_onnx_input(data);
});
