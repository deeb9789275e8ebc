//! What making a request canonical costs per request, in nanoseconds: the path (already
//! canonical, and a spelling that must be rewritten) and the Host parse. A benchmark, not a
//! test: `cargo run --release -p gatehouse-proxy --example canonical_cost`.

use gatehouse_proxy::canonical::{canonical_path, parse_host};
use std::hint::black_box;
use std::time::Instant;

fn per_call(what: &str, n: u32, mut f: impl FnMut()) {
    // The median of five rounds: this machine is noisy.
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    println!("{what:<48} {:>8.1} ns", rounds[2]);
}

fn main() {
    let n = 2_000_000;
    for path in [
        "/",
        "/api/v1/users/12345/orders",
        "/static/app.3f9c2b.js",
        "/./api//v1/%75sers/../users/12345",
        "/%E2%9C%93/caf%c3%a9/x;jsessionid=1",
    ] {
        per_call(&format!("path {path}"), n, || {
            let _ = black_box(canonical_path(black_box(path.as_bytes()), true));
        });
    }
    for host in ["example.com", "App.Example.COM:8443", "[2001:db8::1]:443"] {
        per_call(&format!("host {host}"), n, || {
            let _ = black_box(parse_host(black_box(host.as_bytes())));
        });
    }
}
