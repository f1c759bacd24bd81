"""Hand-made Flight/gRPC bytes for the tests that a real Flight client cannot send: protobuf
fields, FlightData messages, and a tiny HTTP/2 client over a raw socket (preface, SETTINGS,
HEADERS with literal HPACK fields, DATA) that reads frames back. Only what the tests need."""
import socket
import struct
import time

import pyarrow as pa

SVC = "/arrow.flight.protocol.FlightService/"


# ---- protobuf ------------------------------------------------------------------------------
def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field_bytes(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def descriptor(path):
    """FlightDescriptor{type: PATH, path: [...]}"""
    return b"\x08\x01" + b"".join(field_bytes(3, p.encode()) for p in path)


def cmd_descriptor(cmd):
    """FlightDescriptor{type: CMD, cmd: bytes}"""
    return b"\x08\x02" + field_bytes(2, cmd)


def ticket(obj_bytes):
    return field_bytes(1, obj_bytes)


def ipc_parts(obj):
    """(data_header, data_body) of a pyarrow Schema or RecordBatch as Flight sends them."""
    buf = obj.serialize() if isinstance(obj, pa.RecordBatch) else obj.serialize()
    msg = pa.ipc.read_message(buf)
    return msg.metadata.to_pybytes(), msg.body.to_pybytes() if msg.body is not None else b""


def flight_data(header=b"", body=b"", desc=None):
    out = b""
    if desc is not None:
        out += field_bytes(1, desc)
    if header:
        out += field_bytes(2, header)
    if body:
        out += field_bytes(1000, body)
    return out


def grpc_frame(msg, compressed=False):
    return struct.pack(">BI", 1 if compressed else 0, len(msg)) + msg


# ---- HTTP/2 --------------------------------------------------------------------------------
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def hpack_literal(name, value):
    """Literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    def s(b):
        assert len(b) < 127
        return bytes([len(b)]) + b
    return b"\x00" + s(name.encode()) + s(value.encode())


def request_headers(path, content_type="application/grpc", extra=()):
    hs = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
          ("te", "trailers")]
    if content_type is not None:
        hs.append(("content-type", content_type))
    hs.extend(extra)
    return b"".join(hpack_literal(n, v) for n, v in hs)


# Huffman codes of the digits (RFC 7541 Appendix B): enough to read :status values.
_DIGITS = {"00000": "0", "00001": "1", "00010": "2", "011001": "3", "011010": "4", "011011": "5",
           "011100": "6", "011101": "7", "011110": "8", "011111": "9"}


def _huffman_digits(data):
    bits = "".join(f"{b:08b}" for b in data)
    out, cur = "", ""
    for bit in bits:
        cur += bit
        if cur in _DIGITS:
            out += _DIGITS[cur]
            cur = ""
    return out  # trailing all-ones padding (< 8 bits) is dropped


def status_of_header_block(block):
    """The :status of a response header block; nghttp2 always encodes it first."""
    b0 = block[0]
    static = {8: "200", 9: "204", 10: "206", 11: "304", 12: "400", 13: "404", 14: "500"}
    if b0 & 0x80:
        return static.get(b0 & 0x7F)
    if b0 & 0x40:
        idx, pos = b0 & 0x3F, 1
    else:
        idx, pos = b0 & 0x0F, 1
    assert idx == 8, f"first header is not :status (index {idx})"
    huff, ln = block[pos] & 0x80, block[pos] & 0x7F
    val = block[pos + 1: pos + 1 + ln]
    return _huffman_digits(val) if huff else val.decode()


class RawH2:
    """A cleartext HTTP/2 connection driven by hand."""

    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0, b""))

    def send(self, data):
        self.sock.sendall(data)

    def read_frame(self):
        while len(self.buf) < 9:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        ln = int.from_bytes(self.buf[:3], "big")
        while len(self.buf) < 9 + ln:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        ftype, flags = self.buf[3], self.buf[4]
        stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
        payload = self.buf[9:9 + ln]
        self.buf = self.buf[9 + ln:]
        if ftype == SETTINGS and not flags & ACK:
            self.send(frame(SETTINGS, ACK, 0, b""))
        return ftype, flags, stream, payload

    def frames_of_stream(self, stream, deadline_s=30.0):
        """Frames of `stream` until it ends (END_STREAM or RST_STREAM) or the peer closes."""
        out = []
        end = time.time() + deadline_s
        while time.time() < end:
            f = self.read_frame()
            if f is None:
                break
            if f[2] == stream:
                out.append(f)
                if f[0] == RST_STREAM or (f[0] in (HEADERS, DATA) and f[1] & END_STREAM):
                    break
        return out

    def close(self):
        self.sock.close()
