"""A client in the classic style of this assignment: one send, one recv(1024), settimeout(15), input().

Usage: python3 classic_client.py HELLO SERVER_IP SERVER_PORT CONNECTION_ID [udp|tcp]
"""
import socket
import sys
from datetime import datetime

_, verb, ip, port, cid = sys.argv[:5]
transport = sys.argv[5] if len(sys.argv) > 5 else "udp"
port = int(port)
family = socket.AF_INET6 if ":" in ip else socket.AF_INET


def now():
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")


def attempt(cid):
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    s = socket.socket(family, kind)
    s.settimeout(15)
    try:
        if transport == "udp":
            s.sendto(("%s %s" % (verb, cid)).encode(), (ip, port))
            data, _ = s.recvfrom(1024)
        else:
            s.connect((ip, port))
            s.send(("%s %s" % (verb, cid)).encode())
            data = s.recv(1024)
        return data.decode()
    except OSError:
        return None
    finally:
        s.close()


tries = 0
while tries < 3:
    reply = attempt(cid)
    tries += 1
    parts = reply.split() if reply else []
    if len(parts) == 4 and parts[0] == "OK" and parts[1] == cid:
        print("Connection established %s %s %s on %s" % (parts[1], parts[2], parts[3], now()))
        sys.exit(0)
    print("Connection Error %s on %s" % (cid, now()))
    if tries < 3:
        cid = input("Enter a new connection ID: ")
print("Connection Failure on %s" % now())
