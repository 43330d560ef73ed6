//! The `labform` binary (placeholder while the workspace is being laid out).
fn main() {}
