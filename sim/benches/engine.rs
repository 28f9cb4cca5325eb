use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::time::Instant;
fn main() {
    let mut rng = ChaCha8Rng::from_seed([7u8; 32]);
    let mut buf = [0u8; 4096];
    let n = 200_000;
    let t = Instant::now();
    let mut acc = 0u64;
    for _ in 0..n {
        rng.fill_bytes(&mut buf);
        acc += buf[17] as u64;
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "fill_bytes: {:.3} G u32/s ({acc})",
        (n as f64 * 1024.0) / s / 1e9
    );
    let t = Instant::now();
    let mut acc = 0u32;
    for _ in 0..(n * 1024) {
        acc = acc.wrapping_add(rng.next_u32());
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "next_u32: {:.3} G u32/s ({acc})",
        (n as f64 * 1024.0) / s / 1e9
    );
}
