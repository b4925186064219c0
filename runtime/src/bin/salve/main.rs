//! The `salve` command-line program.
fn main() {}
