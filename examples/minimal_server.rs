//! The yardstick the benchmark issue was set against, rebuilt: a minimal server on std's blocking UDP
//! socket that only parses `HELLO <id>`, checks a set and replies, one datagram per system call. It
//! never forgets an ID, logs nothing and skips anything that is not a request. Run against it and then
//! against the real server at the same moment, it tells the server's cost apart from the machine's speed
//! (`AGAINST=minimal_server bash benches/paired.sh`, BENCHMARKS.md).
//!
//! `cargo run --release --example minimal_server -- 127.0.0.1:47400`

use std::collections::HashSet;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let socket = UdpSocket::bind(addr)?;
    println!("serving on {}", socket.local_addr()?);
    let mut held: HashSet<Vec<u8>> = HashSet::new();
    let mut request = [0u8; 2048];
    let mut reply = Vec::with_capacity(128);
    loop {
        let (n, peer) = socket.recv_from(&mut request)?;
        let Some(id) = request[..n].strip_prefix(b"HELLO ") else {
            continue;
        };
        reply.clear();
        if held.insert(id.to_vec()) {
            reply.extend_from_slice(b"OK ");
            reply.extend_from_slice(id);
            write!(reply, " {} {}", peer.ip(), peer.port())?;
        } else {
            reply.extend_from_slice(b"RESET ");
            reply.extend_from_slice(id);
        }
        // A reply that cannot be sent is dropped, as a datagram may be.
        let _ = socket.send_to(&reply, peer);
    }
}
