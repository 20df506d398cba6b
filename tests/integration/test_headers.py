"""Hop-by-hop headers are dropped; X-Forwarded-For/-Proto and Via are added
(or not, when switched off)."""
import pytest

from conftest import HTTPReader, connect, http_get


def backend_view(port, headers, version="1.1"):
    """What nginx's /headers location saw, as a dict."""
    h = "".join(f"{k}: {v}\r\n" for k, v in headers)
    with connect(port) as s:
        s.sendall(f"GET /headers HTTP/{version}\r\n{h}\r\n".encode("latin-1"))
        r = HTTPReader(s).read_response()
    assert r.status == 200, r
    view = dict(l.split("=", 1) for l in r.body.decode().splitlines() if "=" in l)
    assert r.body.decode().splitlines()[-1] == "end"
    return view, r


@pytest.fixture
def backend(nginx):
    return nginx("b1")


def test_forwarding_headers_added(backend, nodown, cfg):
    nd = nodown(cfg([backend]))
    view, r = backend_view(nd.port, [("Host", "example.test")])
    assert view["xff"] == "127.0.0.1"
    assert view["xfp"] == "http"
    assert view["via"] == "1.1 nodown"
    assert view["host"] == "example.test"
    assert r.header("Via") == "1.1 nodown"


def test_xff_appended_to_incoming(backend, nodown, cfg):
    nd = nodown(cfg([backend]))
    view, _ = backend_view(nd.port, [("Host", "t"), ("X-Forwarded-For", "1.2.3.4")])
    assert view["xff"] == "1.2.3.4, 127.0.0.1"
    view, _ = backend_view(nd.port, [("Host", "t"), ("X-Forwarded-For", "1.2.3.4, 5.6.7.8")])
    assert view["xff"] == "1.2.3.4, 5.6.7.8, 127.0.0.1"
    # two incoming fields are merged, in order, into one
    view, _ = backend_view(nd.port, [("Host", "t"), ("X-Forwarded-For", "1.2.3.4"),
                                     ("X-Forwarded-For", "5.6.7.8")])
    assert view["xff"] == "1.2.3.4, 5.6.7.8, 127.0.0.1"


def test_xfp_replaced(backend, nodown, cfg):
    nd = nodown(cfg([backend]))
    view, _ = backend_view(nd.port, [("Host", "t"), ("X-Forwarded-Proto", "https")])
    assert view["xfp"] == "http"


def test_connection_named_header_dropped(backend, nodown, cfg):
    nd = nodown(cfg([backend]))
    view, _ = backend_view(nd.port, [("Host", "t"), ("Connection", "X-Secret"),
                                     ("X-Secret", "s3cret"), ("X-Other", "kept")])
    assert view["secret"] == ""
    assert view["other"] == "kept"
    assert view["connection"] == ""
    # several tokens, mixed case, with keep-alive among them
    view, _ = backend_view(nd.port, [("Host", "t"), ("Connection", "keep-alive, x-secret, X-OTHER"),
                                     ("X-Secret", "s3cret"), ("X-Other", "gone")])
    assert view["secret"] == "" and view["other"] == ""


def test_hop_by_hop_headers_dropped(backend, nodown, cfg):
    nd = nodown(cfg([backend]))
    view, _ = backend_view(nd.port, [("Host", "t"), ("Keep-Alive", "timeout=5"),
                                     ("Proxy-Connection", "keep-alive"), ("TE", "trailers"),
                                     ("X-Other", "kept")])
    assert view["keepalive"] == ""
    assert view["proxyconn"] == ""
    assert view["te"] == ""
    assert view["other"] == "kept"


def test_connection_cannot_drop_framing_headers(backend, nodown, cfg):
    """Connection: Content-Length must not make the proxy drop the framing."""
    nd = nodown(cfg([backend]))
    with connect(nd.port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: Content-Length, Host\r\n"
                  b"Content-Length: 5\r\n\r\nhello")
        r = HTTPReader(s).read_response()
    assert r.status == 200 and r.body == b"hello"


def test_forwarding_headers_switched_off(backend, nodown, cfg):
    nd = nodown(cfg([backend], listener={"forwarded_for": False, "forwarded_proto": False,
                                         "via": False}))
    view, r = backend_view(nd.port, [("Host", "t")])
    assert view["xff"] == ""
    assert view["xfp"] == ""
    assert view["via"] == ""
    assert r.header("Via") is None
    # incoming values pass through untouched
    view, _ = backend_view(nd.port, [("Host", "t"), ("X-Forwarded-For", "1.2.3.4"),
                                     ("X-Forwarded-Proto", "https")])
    assert view["xff"] == "1.2.3.4"
    assert view["xfp"] == "https"


def test_response_hop_by_hop_dropped(nginx, nodown, cfg):
    """Hop-by-hop fields the backend sends are not passed to the client."""
    b = nginx("b1", locations="""
        location = /hop {
            add_header Keep-Alive "timeout=99";
            add_header X-Private "p";
            add_header Connection "X-Private";
            return 200 "hop\\n";
        }""")
    nd = nodown(cfg([b]))
    r = http_get(nd.port, "/hop", headers={"Connection": "keep-alive"})
    assert r.status == 200 and r.body == b"hop\n"
    assert r.header("Keep-Alive") is None
    assert r.header("X-Private") is None
