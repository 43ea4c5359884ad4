"""A server in the line-reading style: over TCP it reads until a newline or until the client closes
its sending side, and ends each reply with a newline. Standard library only.

Usage: python3 newline_server.py SERVER_IP SERVER_PORT [udp|tcp]
Port 0 is allowed; the chosen port is printed first so tests can find it. One line per request:
"<request> -> <reply>".
"""
import socket
import sys
import time

ip, port = sys.argv[1], int(sys.argv[2])
transport = sys.argv[3] if len(sys.argv) > 3 else "udp"
family = socket.AF_INET6 if ":" in ip else socket.AF_INET
in_use = {}


def answer(message, addr):
    now = time.time()
    for cid in list(in_use):
        if now - in_use[cid] > 30:
            del in_use[cid]
    parts = message.split(" ")
    if len(parts) != 2 or parts[0] != "HELLO" or not parts[1]:
        return None
    cid = parts[1]
    if cid in in_use:
        return "RESET " + cid
    in_use[cid] = now
    return "OK %s %s %d" % (cid, addr[0], addr[1])


def read_line(conn):
    """Bytes up to the first newline, or all of them when the peer stops sending."""
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(1024)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n")[0].rstrip(b"\r").decode(errors="replace")


if transport == "udp":
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((ip, port))
else:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(5)
s.settimeout(120)
print("listening on %s %s:%d" % (transport, ip, s.getsockname()[1]), flush=True)

while True:
    try:
        if transport == "udp":
            data, addr = s.recvfrom(1024)
            message = data.decode(errors="replace").rstrip("\r\n")
            reply = answer(message, addr)
            if reply:
                s.sendto((reply + "\n").encode(), addr)
        else:
            conn, addr = s.accept()
            conn.settimeout(60)
            try:
                message = read_line(conn)
            except OSError as e:
                message = "(read failed: %s)" % e
            reply = answer(message, addr)
            if reply:
                try:
                    conn.sendall((reply + "\n").encode())
                except OSError:
                    pass
            conn.close()
        print("%s -> %s" % (message, reply), flush=True)
    except socket.timeout:
        print("Server timed out", flush=True)
        break
s.close()
