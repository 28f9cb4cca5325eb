//! A bare axum server with `umpire serve`'s routes (placeholder; filled in by the peer bench).

fn main() {}
