#!/usr/bin/env python3
"""A PBX registering over TLS, for the TLS lab tests: Python's `ssl` (OpenSSL)
with a key log, as Asterisk (pjproject over OpenSSL) would with SSLKEYLOGFILE.

    tls_register.py HOST PORT SERVER_NAME CA_FILE KEYLOG VERSION USER PASSWORD [BIO]

VERSION is 1.2 or 1.3. BIO is `socket` (the default: OpenSSL reads and
writes the socket itself, inside SSL_read and SSL_write) or `memory`
(OpenSSL works on memory buffers and this script moves the bytes to and
from the socket around each call, as pjproject does inside Asterisk). REGISTER without credentials, then with a digest
(RFC 2617, MD5) computed from PASSWORD for the 401's nonce. Prints each
answer's status line, or `handshake failed: ...`; always exits 0, the test
reads what it printed.
"""
import hashlib, re, socket, ssl, sys

host, port, server_name, ca_file, keylog, version, user, password = sys.argv[1:9]
bio = sys.argv[9] if len(sys.argv) > 9 else "socket"
port = int(port)


class MemoryTls:
    """TLS over memory BIOs: ciphertext sent after each write, received
    before each read, by this thread, as pjproject's ssl_sock_ossl does."""

    def __init__(self, raw, ctx, server_name):
        self.raw = raw
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname=server_name)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.fill()
        self.flush()

    def flush(self):
        data = self.outgoing.read()
        if data:
            self.raw.sendall(data)

    def fill(self):
        data = self.raw.recv(16384)
        if not data:
            raise OSError("connection closed")
        self.incoming.write(data)

    def sendall(self, data):
        self.tls.write(data)
        self.flush()

    def recv(self, n):
        while True:
            try:
                return self.tls.read(n)
            except ssl.SSLWantReadError:
                self.fill()

    def getsockname(self):
        return self.raw.getsockname()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def register(sock, local, cseq, auth):
    uri = f"sip:{host}"
    msg = (
        f"REGISTER {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS {local[0]}:{local[1]};branch=z9hG4bK-tls-{user}-{cseq};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{user}@{host}>;tag=tls{user}\r\n"
        f"To: <sip:{user}@{host}>\r\n"
        f"Call-ID: tls-{user}-{version}@{local[0]}\r\n"
        f"CSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{user}@{local[0]}:{local[1]};transport=tls>\r\n"
        "Expires: 300\r\n"
        "User-Agent: Asterisk PBX 22.0.0\r\n"
        f"{auth}"
        "Content-Length: 0\r\n\r\n"
    )
    sock.sendall(msg.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
ctx.minimum_version = ctx.maximum_version = v
ctx.load_verify_locations(ca_file)
ctx.keylog_filename = keylog
try:
    with socket.create_connection((host, port), timeout=5) as raw:
        tls = (
            MemoryTls(raw, ctx, server_name)
            if bio == "memory"
            else ctx.wrap_socket(raw, server_hostname=server_name)
        )
        with tls as s:
            local = s.getsockname()
            answer = register(s, local, 1, "")
            print(answer.split("\r\n")[0])
            realm = re.search(r'realm="([^"]*)"', answer)
            nonce = re.search(r'nonce="([^"]*)"', answer)
            if not (realm and nonce):
                sys.exit(0)
            realm, nonce = realm.group(1), nonce.group(1)
            uri = f"sip:{host}"
            ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
            ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
            response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
            auth = (
                f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                f'uri="{uri}", response="{response}", algorithm=MD5\r\n'
            )
            print(register(s, local, 2, auth).split("\r\n")[0])
except (ssl.SSLError, OSError) as e:
    print(f"handshake failed: {e}")
