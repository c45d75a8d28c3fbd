//! One module per `maso` subcommand.

pub mod codes;
pub mod data;
pub mod demo;
pub mod eval;
pub mod partition;
pub mod experiment;
pub mod templates;
pub mod train;
