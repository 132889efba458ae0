//! IR XML + weights bytes -> read_model_from (parse, edges, constants, shape inference).
//!
//! Input layout (see `ovc_cli::fuzzing::split_ir_input`): 4-byte little-endian XML length,
//! the XML text, then the `.bin` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ovc_cli::fuzzing::read_ir_input(data);
});
