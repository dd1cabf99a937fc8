//! Compiles `proto/` with protox (pure Rust, no `protoc`) and generates prost messages plus
//! tonic clients and servers. The encoded descriptor set is written next to the generated code
//! so the crate can expose it (the wire conformance test compares it with the official SDK's).

use std::path::PathBuf;

use prost::Message as _;

const FILES: &[&str] = &[
    "dispatcher.proto",
    "events.proto",
    "workflows.proto",
    "v1/dispatcher.proto",
    "v1/workflows.proto",
    "v1/shared/condition.proto",
    "v1/shared/trigger.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let descriptors = protox::compile(FILES, ["proto"])?;
    std::fs::write(
        out_dir.join("hatchet_descriptor_set.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Servers implement only the RPCs they serve; the rest answer UNIMPLEMENTED.
        .generate_default_stubs(true)
        .compile_fds(descriptors)?;
    Ok(())
}
