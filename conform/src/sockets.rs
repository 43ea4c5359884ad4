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
    held_over(pid, &Transport::ALL)
}

/// [`held`], of `transports` only: a look at the TCP tables walks every TCP socket the system has
/// (thousands in `TIME_WAIT` after a busy run), which a UDP server's start need not wait on.
pub fn held_over(pid: u32, transports: &[Transport]) -> Option<Vec<Held>> {
    if !std::path::Path::new("/proc/net").exists() {
        return None;
    }
    let mut by_inode = Vec::new();
    let tables = [
        ("udp", Transport::Udp),
        ("udp6", Transport::Udp),
        ("tcp", Transport::Tcp),
        ("tcp6", Transport::Tcp),
    ];
    // Listening TCP sockets from the kernel's socket diagnostics where it answers: only its table of
    // listening sockets is walked, where `/proc/net/tcp` walks every socket's bucket.
    let listening = match transports.contains(&Transport::Tcp) {
        true => diag::tcp_listening(),
        false => None,
    };
    if let Some(listening) = &listening {
        by_inode.extend(listening.iter().cloned());
    }
    for (table, transport) in tables.into_iter().filter(|(_, t)| transports.contains(t)) {
        if transport == Transport::Tcp && listening.is_some() {
            continue;
        }
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

/// Which of the program's UDP sockets a request came from: the kernel's inode of the socket bound to
/// `local` (the program's side) whose peer is `server` or unset, read while the socket is open; `None`
/// if there is no such socket, more than one, or the tables cannot be read (another network
/// namespace, no `/proc`). A port alone does not name a socket: once a try's socket is closed, the
/// system may give the next try's new socket the same port (about once in 10,000 explored sessions
/// here), and a client that binds its sockets to one port does so every time. (TCP picks a
/// connection's port in turn through the whole range, and `/proc/net/tcp` lists every connection in
/// TIME_WAIT too, which makes it slow to read after many: TCP is left to its ports.)
pub fn udp_inode_of(local: SocketAddr, server: SocketAddr) -> Option<u64> {
    let (v4, v6) = ("/proc/net/udp", "/proc/net/udp6");
    let mut found = Vec::new();
    for table in [v4, v6] {
        if let Ok(text) = std::fs::read_to_string(table) {
            found.extend(matching(&text, local, server));
        }
    }
    found.sort_unstable();
    found.dedup();
    match found[..] {
        [inode] => Some(inode),
        _ => None,
    }
}

/// The inodes of the table's sockets bound to `local`'s port at `local`'s address or a wildcard,
/// whose peer is `server` or none.
fn matching(table: &str, local: SocketAddr, server: SocketAddr) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let bound = socket_address(fields.get(1)?)?;
            let peer = socket_address(fields.get(2)?)?;
            let inode: u64 = fields.get(9)?.parse().ok()?;
            let at_local = bound.port() == local.port()
                && (same_ip(bound.ip(), local.ip()) || bound.ip().is_unspecified());
            // Unconnected (the peer `0.0.0.0:0`: no socket connects to port 0), or connected to it.
            let to_server = peer.port() == 0
                || (peer.port() == server.port() && same_ip(peer.ip(), server.ip()));
            (at_local && to_server && inode != 0).then_some(inode)
        })
        .collect()
}

/// Whether two addresses are one, an IPv4 address and its IPv4-mapped IPv6 form alike.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let plain = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    plain(a) == plain(b)
}

/// An address and port as `/proc/net` writes them: `0100007F:1F90`.
fn socket_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.rsplit_once(':')?;
    Some(SocketAddr::new(
        address(ip)?,
        u16::from_str_radix(port, 16).ok()?,
    ))
}

/// Linux's socket diagnostics (`NETLINK_SOCK_DIAG`), asked for listening TCP sockets only.
#[cfg(target_os = "linux")]
mod diag {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    use super::Held;
    use connid::Transport;

    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_DUMP: u16 = 0x300;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const TCP_LISTEN: u32 = 10;
    /// `struct nlmsghdr`, and `struct inet_diag_msg` up to its inode.
    const HEADER: usize = 16;
    const MESSAGE: usize = 72;

    /// Every listening TCP socket (IPv4 and IPv6) as its inode and address; `None` where the kernel
    /// does not answer (then `/proc/net/tcp` is read instead).
    pub fn tcp_listening() -> Option<Vec<(String, Held)>> {
        // SAFETY: a plain socket call; the descriptor is closed below on every path.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return None;
        }
        let found = [libc::AF_INET, libc::AF_INET6]
            .into_iter()
            .map(|family| dump(fd, family as u8))
            .collect::<Option<Vec<_>>>()
            .map(|all| all.concat());
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(fd) };
        found
    }

    /// One dump request for `family` and its answer.
    fn dump(fd: i32, family: u8) -> Option<Vec<(String, Held)>> {
        let mut request = [0u8; HEADER + 56];
        request[0..4].copy_from_slice(&((HEADER + 56) as u32).to_ne_bytes());
        request[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        request[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        request[HEADER] = family;
        request[HEADER + 1] = libc::IPPROTO_TCP as u8;
        request[HEADER + 4..HEADER + 8].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
        // SAFETY: a zeroed sockaddr_nl is the kernel's address (pid 0, no groups).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: the request buffer and the address, with their lengths.
        let sent = unsafe {
            libc::sendto(
                fd,
                request.as_ptr().cast(),
                request.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return None;
        }
        let mut found = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: our buffer and its length.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                return None;
            }
            let mut at = 0;
            let got = &buf[..n as usize];
            while at + HEADER <= got.len() {
                let len = u32::from_ne_bytes(got[at..at + 4].try_into().ok()?) as usize;
                let kind = u16::from_ne_bytes(got[at + 4..at + 6].try_into().ok()?);
                if len < HEADER || at + len > got.len() {
                    return None;
                }
                match kind {
                    NLMSG_DONE => return Some(found),
                    NLMSG_ERROR => return None,
                    _ => found.extend(message(&got[at + HEADER..at + len])),
                }
                at += len.next_multiple_of(4);
            }
        }
    }

    /// A listening socket from one `inet_diag_msg`.
    fn message(m: &[u8]) -> Option<(String, Held)> {
        if m.len() < MESSAGE {
            return None;
        }
        let port = u16::from_be_bytes([m[4], m[5]]);
        let ip = match i32::from(m[0]) {
            libc::AF_INET => IpAddr::V4(Ipv4Addr::new(m[8], m[9], m[10], m[11])),
            _ => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&m[8..24]).ok()?)),
        };
        let inode = u32::from_ne_bytes(m[68..72].try_into().ok()?);
        let local = SocketAddr::new(ip, port);
        let held = Held {
            transport: Transport::Tcp,
            local,
        };
        Some((inode.to_string(), held))
    }
}

#[cfg(not(target_os = "linux"))]
mod diag {
    pub fn tcp_listening() -> Option<Vec<(String, super::Held)>> {
        None
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

    #[test]
    fn the_kernels_socket_diagnostics_list_what_proc_lists() {
        if diag::tcp_listening().is_none() {
            return; // no NETLINK_SOCK_DIAG here: /proc/net/tcp is read, as the other tests check
        }
        let (v4, v6) = (
            std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
            std::net::TcpListener::bind("[::1]:0").ok(),
        );
        let ours: Vec<SocketAddr> = std::iter::once(&v4)
            .chain(v6.as_ref())
            .map(|l| l.local_addr().unwrap())
            .collect();
        let diag = diag::tcp_listening().unwrap();
        let proc: Vec<(String, Held)> = ["tcp", "tcp6"]
            .iter()
            .flat_map(|t| {
                std::fs::read_to_string(format!("/proc/net/{t}"))
                    .unwrap_or_default()
                    .lines()
                    .skip(1)
                    .filter_map(|row| row_of(row, Transport::Tcp))
                    .collect::<Vec<_>>()
            })
            .collect();
        // Other tests open and close listeners meanwhile: ours are compared, inode and address.
        for at in ours {
            let find = |list: &[(String, Held)]| list.iter().find(|(_, h)| h.local == at).cloned();
            let found = find(&diag);
            assert!(found.is_some(), "{at} in {diag:?}");
            assert_eq!(found, find(&proc));
        }
        // A connected socket is not listed: only listening ones are asked for.
        let _client = std::net::TcpStream::connect(v4.local_addr().unwrap()).unwrap();
        let after = diag::tcp_listening().unwrap();
        assert!(after.iter().all(|(_, h)| h.local.port() != 0));
        assert_eq!(
            after
                .iter()
                .filter(|(_, h)| h.local == v4.local_addr().unwrap())
                .count(),
            1
        );
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    // As Linux writes them on x86-64 (little-endian words).
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  105: 0100007F:9C40 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41234 2 0000000000000000 0
  106: 00000000:9C41 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41235 2 0000000000000000 0
  107: 0100007F:9C42 0100007F:1388 01 00000000:00000000 00:00000000 00000000     0        0 41236 2 0000000000000000 0
  108: 0100007F:9C43 0200007F:1388 01 00000000:00000000 00:00000000 00000000     0        0 41237 2 0000000000000000 0
";

    #[test]
    fn a_socket_is_found_by_its_address_a_wildcard_bind_or_its_connected_peer() {
        let server = addr("127.0.0.1:5000");
        if cfg!(target_endian = "little") {
            assert_eq!(matching(UDP, addr("127.0.0.1:40000"), server), [41234]);
            // Bound to 0.0.0.0: the request still left from 127.0.0.1.
            assert_eq!(matching(UDP, addr("127.0.0.1:40001"), server), [41235]);
            // Connected to the server.
            assert_eq!(matching(UDP, addr("127.0.0.1:40002"), server), [41236]);
            // Connected elsewhere (127.0.0.2): not the socket that asked this server.
            assert!(matching(UDP, addr("127.0.0.1:40003"), server).is_empty());
            // Another address on the port, or a port nobody has.
            assert!(matching(UDP, addr("127.0.0.2:40000"), server).is_empty());
            assert!(matching(UDP, addr("127.0.0.1:40009"), server).is_empty());
        }
    }

    #[test]
    fn the_kernels_addresses_are_read_as_they_are_written() {
        if cfg!(target_endian = "little") {
            assert_eq!(
                socket_address("0100007F:1F90"),
                Some(addr("127.0.0.1:8080"))
            );
            assert_eq!(
                socket_address("00000000000000000000000001000000:0035"),
                Some(addr("[::1]:53"))
            );
            assert_eq!(
                socket_address("0000000000000000FFFF00000100007F:0050"),
                Some(addr("[::ffff:127.0.0.1]:80"))
            );
        }
        assert_eq!(socket_address("0100007F"), None);
        assert_eq!(socket_address("0100007:1F90"), None);
        assert_eq!(socket_address("ZZ00007F:1F90"), None);
    }

    #[test]
    fn a_mapped_address_is_its_ipv4_one() {
        assert!(same_ip(
            "::ffff:127.0.0.1".parse().unwrap(),
            "127.0.0.1".parse().unwrap()
        ));
        assert!(!same_ip(
            "::1".parse().unwrap(),
            "127.0.0.1".parse().unwrap()
        ));
    }

    #[test]
    fn a_socket_of_this_process_is_found_by_its_inode() {
        use std::os::unix::fs::MetadataExt;
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .send_to(b"HELLO 1", server.local_addr().unwrap())
            .unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&client);
        let inode = std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .unwrap()
            .ino();
        let (local, to) = (client.local_addr().unwrap(), server.local_addr().unwrap());
        assert_eq!(udp_inode_of(local, to), Some(inode));
        drop(client);
        assert_eq!(udp_inode_of(local, to), None);
    }
}
