//! The least a server can do: answer `HELLO <id>` with `RESET <id>`, no table, no log, a batch of
//! datagrams per system call. Used to measure how fast `load` can generate (BENCHMARKS.md).
//!
//! `cargo run --release --example udp_echo -- 127.0.0.1:47400`

use std::net::SocketAddr;

use connid::net::{send_all, Net, RecvBatch, SendBatch, TokioNet, UdpSocket};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let socket = TokioNet.bind_udp(addr).await?;
    println!("echoing on {}", socket.local_addr()?);
    let mut requests = RecvBatch::new();
    let mut replies = SendBatch::new();
    loop {
        socket.recv_batch(&mut requests).await?;
        replies.clear();
        for (bytes, from) in requests.iter() {
            replies.push_if(from, |reply| match bytes.strip_prefix(b"HELLO ") {
                Some(id) => {
                    reply.extend_from_slice(b"RESET ");
                    reply.extend_from_slice(id);
                    true
                }
                None => false,
            });
        }
        // A reply that cannot be sent is dropped, as a lost datagram would be.
        send_all(&socket, &replies, |_| {}).await;
    }
}
