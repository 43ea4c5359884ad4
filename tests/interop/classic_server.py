"""A server in the classic style of this assignment: standard socket module, one recv(1024) per request.

Usage: python3 classic_server.py SERVER_IP SERVER_PORT [udp|tcp]
Port 0 is allowed; the chosen port is printed first so tests can find it.
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
    parts = message.split()
    if len(parts) != 2 or parts[0] != "HELLO":
        return None
    cid = parts[1]
    if cid in in_use:
        return "RESET " + cid
    in_use[cid] = now
    return "OK %s %s %d" % (cid, addr[0], addr[1])


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
            reply = answer(data.decode(), addr)
            if reply:
                s.sendto(reply.encode(), addr)
        else:
            conn, addr = s.accept()
            data = conn.recv(1024)
            reply = answer(data.decode(), addr)
            if reply:
                conn.send(reply.encode())
            conn.close()
        print("%s -> %s" % (data.decode(), reply), flush=True)
    except socket.timeout:
        print("Server timed out", flush=True)
        break
s.close()
