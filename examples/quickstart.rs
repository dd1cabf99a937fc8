//! Run: `cargo run --example quickstart`
fn main() {}
