//! One module per `maso` subcommand.

pub mod arch;
pub mod codes;
pub mod complexity;
pub mod data;
pub mod demo;
pub mod eval;
pub mod experiment;
pub mod import;
pub mod partition;
pub mod slice;
pub mod templates;
pub mod toy;
pub mod train;
