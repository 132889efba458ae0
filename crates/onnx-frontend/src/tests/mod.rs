//! Tests of the whole frontend: light models, translators, external data, error cases.

mod bitcast;
mod control;
mod decompositions;
mod errors;
mod external;
mod light;
mod ml;
mod optional_inputs;
mod quantized;
mod sequence;
mod signal;
mod slicing;
mod strings;
mod training;
mod translators;
