"""
A strict HTTP/1.1 message reader (RFC 9112), written apart from nodown's
code so the two share no blind spot. It reads what nodown sends to a
backend (requests) or to a client (responses) and refuses anything a
lenient peer could read another way: a bare CR or LF, obs-fold, whitespace
before a colon, a repeated or non-decimal Content-Length, Content-Length
with Transfer-Encoding, a Transfer-Encoding other than "chunked" in a
request, chunk extensions, a malformed chunk, framing fields in trailers,
a version other than HTTP/1.0 or HTTP/1.1.

    read_requests(data)   -> ([Message], rest)     raises StrictError
    read_responses(data, methods) -> ([Message], rest)

A message is complete or not returned: `rest` holds the bytes of an
unfinished one (a request cut short by a closed connection).
"""
import re

TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
VALUE = re.compile(rb"^[\t\x20-\x7e\x80-\xff]*$")
FRAMING = {b"content-length", b"transfer-encoding", b"host"}


class StrictError(Exception):
    pass


class Incomplete(Exception):
    pass


class Message:
    def __init__(self):
        self.start = b""          # request line or status line
        self.method = self.target = self.version = None
        self.status = None
        self.headers = []         # [(name lower, value)]
        self.body = b""
        self.trailers = []
        self.raw_len = 0

    def header(self, name, default=None):
        name = name.lower().encode() if isinstance(name, str) else name.lower()
        vals = [v for k, v in self.headers if k == name]
        return vals[0] if vals else default

    def headers_named(self, name):
        name = name.lower().encode() if isinstance(name, str) else name.lower()
        return [v for k, v in self.headers if k == name]

    def __repr__(self):
        return f"<Message {self.start!r} body={len(self.body)}B>"


def _line(data, pos):
    """One CRLF-terminated line at pos: (line, next pos)."""
    i = data.find(b"\n", pos)
    if i < 0:
        raise Incomplete()
    if i == pos or data[i - 1:i] != b"\r":
        raise StrictError(f"bare LF at {i}")
    line = data[pos:i - 1]
    if b"\r" in line:
        raise StrictError(f"bare CR in line {line!r}")
    return line, i + 1


def _fields(data, pos, trailer=False):
    headers = []
    while True:
        line, pos = _line(data, pos)
        if line == b"":
            return headers, pos
        if line[:1] in (b" ", b"\t"):
            raise StrictError("obs-fold")
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.match(name):
            raise StrictError(f"invalid field name in {line!r}")
        value = value.strip(b" \t")
        if not VALUE.match(value):
            raise StrictError(f"invalid field value in {line!r}")
        if trailer and name.lower() in FRAMING:
            raise StrictError(f"framing field {name!r} in a trailer section")
        headers.append((name.lower(), value))


def _chunked(data, pos):
    body = bytearray()
    while True:
        line, pos = _line(data, pos)
        if not re.match(rb"^[0-9A-Fa-f]+$", line):
            raise StrictError(f"invalid chunk size line {line!r} (nodown sends no extensions)")
        size = int(line, 16)
        if size == 0:
            trailers, pos = _fields(data, pos, trailer=True)
            return bytes(body), trailers, pos
        if len(data) < pos + size + 2:
            raise Incomplete()
        body += data[pos:pos + size]
        pos += size
        if data[pos:pos + 2] != b"\r\n":
            raise StrictError("chunk data not followed by CRLF")
        pos += 2


def _framing(m):
    cls = m.headers_named("content-length")
    tes = m.headers_named("transfer-encoding")
    if len(cls) > 1:
        raise StrictError("repeated Content-Length")
    if cls and tes:
        raise StrictError("Content-Length with Transfer-Encoding")
    if cls and not re.match(rb"^[0-9]+$", cls[0]):
        raise StrictError(f"Content-Length {cls[0]!r}")
    if cls and cls[0] != str(int(cls[0])).encode():
        raise StrictError(f"Content-Length not canonical: {cls[0]!r}")
    if len(tes) > 1:
        raise StrictError("repeated Transfer-Encoding")
    return (int(cls[0]) if cls else None), (tes[0] if tes else None)


def _body(data, pos, m, length, te, until_close):
    if te is not None:
        codings = [c.strip().lower() for c in te.split(b",")]
        if codings[-1] != b"chunked" or codings.count(b"chunked") != 1 or b"" in codings:
            if m.method is not None:
                raise StrictError(f"request Transfer-Encoding {te!r}")
            if until_close:
                m.body = data[pos:]
                return len(data)
            raise Incomplete()
        m.body, m.trailers, pos = _chunked(data, pos)
        return pos
    if length is not None:
        if len(data) < pos + length:
            raise Incomplete()
        m.body = data[pos:pos + length]
        return pos + length
    if m.method is None and until_close:
        m.body = data[pos:]
        return len(data)
    if m.method is None:
        raise Incomplete()
    return pos


def read_request(data, pos=0):
    m = Message()
    line, p = _line(data, pos)
    parts = line.split(b" ")
    if len(parts) != 3:
        raise StrictError(f"request line {line!r}")
    m.method, m.target, m.version = parts
    if not TOKEN.match(m.method) or not m.target or any(c <= 0x20 or c == 0x7f for c in m.target):
        raise StrictError(f"request line {line!r}")
    if m.version not in (b"HTTP/1.0", b"HTTP/1.1"):
        raise StrictError(f"version {m.version!r}")
    if not (m.target.startswith(b"/") or m.target == b"*"):
        raise StrictError(f"target not in origin-form: {m.target!r}")
    m.start = line
    m.headers, p = _fields(data, p)
    hosts = m.headers_named("host")
    if len(hosts) > 1 or (m.version == b"HTTP/1.1" and not hosts):
        raise StrictError("Host missing or repeated")
    length, te = _framing(m)
    if te is not None and m.version == b"HTTP/1.0":
        raise StrictError("Transfer-Encoding in HTTP/1.0")
    p = _body(data, p, m, length, te, False)
    m.raw_len = p - pos
    return m, p


def read_response(data, pos=0, method=b"GET", until_close=False):
    m = Message()
    line, p = _line(data, pos)
    mt = re.match(rb"^(HTTP/1\.[01]) ([1-9][0-9][0-9]) ([\t\x20-\x7e\x80-\xff]*)$", line)
    if not mt:
        raise StrictError(f"status line {line!r}")
    m.version, m.status = mt.group(1), int(mt.group(2))
    m.start = line
    m.headers, p = _fields(data, p)
    length, te = _framing(m)
    if method == b"HEAD" or m.status < 200 or m.status in (204, 304):
        m.raw_len = p - pos
        return m, p
    p = _body(data, p, m, length, te, until_close)
    m.raw_len = p - pos
    return m, p


def read_requests(data):
    out, pos = [], 0
    while pos < len(data):
        try:
            m, pos = read_request(data, pos)
        except Incomplete:
            break
        out.append(m)
    return out, data[pos:]


def read_responses(data, methods=(), until_close=True):
    """Responses in data; interim ones are returned too. methods: the
    request methods, in order (for HEAD)."""
    out, pos, i = [], 0, 0
    methods = list(methods)
    while pos < len(data):
        method = methods[i] if i < len(methods) else b"GET"
        try:
            m, pos = read_response(data, pos, method, until_close)
        except Incomplete:
            break
        out.append(m)
        if m.status >= 200 or m.status == 101:
            i += 1
    return out, data[pos:]
