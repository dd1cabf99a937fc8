//! Definitions written with the macros: they compile, and what they define is what the
//! attributes say. (Definitions that must not compile are the UI tests of `hatchet-macros`.)

mod dag;
mod durable;
mod standalone;
