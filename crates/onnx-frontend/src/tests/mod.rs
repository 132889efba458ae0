//! Tests of the whole frontend: light models, translators, external data, error cases.

mod errors;
mod external;
mod light;
mod slicing;
mod translators;
