//! Tests of the whole frontend: light models, translators, external data, error cases.

mod control;
mod errors;
mod external;
mod light;
mod signal;
mod slicing;
mod strings;
mod translators;
