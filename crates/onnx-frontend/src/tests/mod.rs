//! Tests of the whole frontend: light models, translators, external data, error cases.

mod control;
mod errors;
mod external;
mod light;
mod ml;
mod quantized;
mod signal;
mod slicing;
mod training;
mod translators;
