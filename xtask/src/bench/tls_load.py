#!/usr/bin/env python3
"""The TLS benchmark's PBX: one TLS connection (Python's ssl, OpenSSL on the
socket), REGISTER after REGISTER, each sent when the last one's answer came,
for SECONDS; prints `requests N answers M`.

    tls_load.py HOST PORT SERVER_NAME CA_FILE SECONDS [DELAY]

DELAY: seconds to wait before connecting (time to attach to this process).
"""
import socket, ssl, sys, time

host, port, server_name, ca_file, seconds = sys.argv[1:6]
time.sleep(float(sys.argv[6]) if len(sys.argv) > 6 else 0)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca_file)
raw = socket.create_connection((host, int(port)), timeout=5)
s = ctx.wrap_socket(raw, server_hostname=server_name)
local = s.getsockname()
end = time.monotonic() + float(seconds)
requests = answers = 0
buf = b""
while time.monotonic() < end:
    requests += 1
    s.sendall(
        (
            f"REGISTER sip:{host} SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS {local[0]}:{local[1]};branch=z9hG4bK-bench-{requests};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:bench@{host}>;tag=bench\r\n"
            f"To: <sip:bench@{host}>\r\n"
            f"Call-ID: bench@{local[0]}\r\n"
            f"CSeq: {requests} REGISTER\r\n"
            f"Contact: <sip:bench@{local[0]}:{local[1]};transport=tls>\r\n"
            "Expires: 300\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit(f"the registrar closed the connection after {answers} answers")
        buf += chunk
    _, buf = buf.split(b"\r\n\r\n", 1)
    answers += 1
print(f"requests {requests} answers {answers}")
