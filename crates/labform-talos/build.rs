//! Compiles labform's `.proto` subset of Talos's machine API (`proto/`) with protox, a protobuf
//! compiler in Rust (no `protoc` needed), and generates the tonic client and server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["machine/machine.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
