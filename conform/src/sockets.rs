//! The sockets a process and its descendants hold, as Linux's `/proc` tells: what a server under test
//! really listens on, so a case can say where it listened when it was not on the port it was given
//! (the commonest mistake: a port written into the program).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use connid::Transport;

/// A socket bound to a local address: a UDP socket, or a TCP socket that listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub transport: Transport,
    pub local: SocketAddr,
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.transport, self.local)
    }
}

/// Every UDP socket bound to a port and every listening TCP socket that `pid` or a process it
/// started holds, sorted; `None` where there is no `/proc/net` to ask.
pub fn held(pid: u32) -> Option<Vec<Held>> {
    if !std::path::Path::new("/proc/net").exists() {
        return None;
    }
    let mut by_inode = Vec::new();
    for (table, transport) in [
        ("udp", Transport::Udp),
        ("udp6", Transport::Udp),
        ("tcp", Transport::Tcp),
        ("tcp6", Transport::Tcp),
    ] {
        let text = std::fs::read_to_string(format!("/proc/net/{table}")).unwrap_or_default();
        by_inode.extend(
            text.lines()
                .skip(1)
                .filter_map(|row| row_of(row, transport)),
        );
    }
    let mut found: Vec<Held> = super::child::family(pid)
        .into_iter()
        .flat_map(|p| {
            std::fs::read_dir(format!("/proc/{p}/fd"))
                .into_iter()
                .flatten()
        })
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            let inode = link
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .to_string();
            by_inode
                .iter()
                .find(|(i, _)| *i == inode)
                .map(|(_, held)| *held)
        })
        .collect();
    found.sort_by_key(|h| (h.transport.to_string(), h.local));
    found.dedup();
    Some(found)
}

/// One row of `/proc/net/{udp,tcp}[6]` (`sl local_address rem_address st ... uid timeout inode`) as
/// its inode and the socket, if it is bound to a port (TCP: listening, state `0A`).
fn row_of(row: &str, transport: Transport) -> Option<(String, Held)> {
    let fields: Vec<&str> = row.split_whitespace().collect();
    let (ip, port) = fields.get(1)?.rsplit_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let listening = transport == Transport::Udp || fields.get(3) == Some(&"0A");
    let inode = fields.get(9)?;
    if port == 0 || !listening || *inode == "0" {
        return None;
    }
    let local = SocketAddr::new(address(ip)?, port);
    Some((inode.to_string(), Held { transport, local }))
}

/// An address as `/proc/net` writes it: hex, each 32-bit word in the machine's byte order.
fn address(hex: &str) -> Option<IpAddr> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_as_the_kernel_writes_them() {
        // Rows as this machine's kernel wrote them (little-endian words).
        let udp = "  1: 0100007F:15DF 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0";
        let (inode, held) = row_of(udp, Transport::Udp).unwrap();
        assert_eq!(inode, "4242");
        assert_eq!(held.to_string(), "udp 127.0.0.1:5599");
        let listening = "  0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            row_of(listening, Transport::Tcp).unwrap().1.to_string(),
            "tcp 0.0.0.0:8080"
        );
        // A connected or closing TCP socket is no server's.
        let connected = listening.replace(" 0A ", " 01 ");
        assert_eq!(row_of(&connected, Transport::Tcp), None);
        let v6 = "  0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 78 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            row_of(v6, Transport::Tcp).unwrap().1.to_string(),
            "tcp [::1]:8080"
        );
        // Every word in its place (2001:db8::1).
        let v6 = v6.replace(
            "00000000000000000000000001000000:1F90",
            "B80D0120000000000000000001000000:1F90",
        );
        assert_eq!(
            row_of(&v6, Transport::Tcp).unwrap().1.to_string(),
            "tcp [2001:db8::1]:8080"
        );
        assert_eq!(row_of("garbage", Transport::Udp), None);
    }

    #[test]
    fn what_a_process_holds_is_found_and_nothing_of_others() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        if !std::path::Path::new("/proc/net").exists() {
            assert_eq!(held(std::process::id()), None);
            return; // no /proc here: nothing to ask
        }
        let mine = held(std::process::id()).expect("/proc/net is here");
        let expect = |transport, local| Held { transport, local };
        assert!(mine.contains(&expect(Transport::Udp, udp.local_addr().unwrap())));
        assert!(mine.contains(&expect(Transport::Tcp, tcp.local_addr().unwrap())));
        let mut other = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let theirs = held(other.id()).unwrap();
        let _ = other.kill();
        let _ = other.wait();
        assert_eq!(theirs, []);
    }
}
