#!/usr/bin/env python3
"""Open one Postgres-protocol connection (stdlib only) and print what the server answered
to the startup packet: `ready` once it is ready for queries, or `error SQLSTATE message`."""
import socket
import struct
import sys

host, port = sys.argv[1], int(sys.argv[2])
with socket.create_connection((host, port), timeout=10) as sock:
    params = b"user\x00load\x00database\x00groundtruth\x00\x00"
    sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
    buffer = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            print("closed")
            break
        buffer += chunk
        while len(buffer) >= 5:
            kind, length = buffer[:1], struct.unpack("!i", buffer[1:5])[0]
            if len(buffer) < 1 + length:
                break
            body, buffer = buffer[5:1 + length], buffer[1 + length:]
            if kind == b"E":
                fields = {f[:1]: f[1:].decode() for f in body.split(b"\x00") if f}
                print("error", fields.get(b"C"), fields.get(b"M"))
                sys.exit(0)
            if kind == b"Z":
                print("ready")
                sock.sendall(b"X\x00\x00\x00\x04")
                sys.exit(0)
