//! The least a server can do: answer `HELLO <id>` with `RESET <id>`, no table, no log, plain blocking
//! std sockets. Used to measure how fast `load` can generate (BENCHMARKS.md).
//!
//! `cargo run --release --example udp_echo -- 127.0.0.1:47400`

use std::net::UdpSocket;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    let socket = UdpSocket::bind(&addr)?;
    println!("echoing on {}", socket.local_addr()?);
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = socket.recv_from(&mut buf)?;
        if let Some(id) = buf[..n].strip_prefix(b"HELLO ") {
            let mut reply = Vec::with_capacity(n + 1);
            reply.extend_from_slice(b"RESET ");
            reply.extend_from_slice(id);
            socket.send_to(&reply, from)?;
        }
    }
}
