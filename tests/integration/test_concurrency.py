"""Many clients at once: no errors, every body intact."""
import http.client
import os
import threading

from conftest import HTTPReader, connect, wait_for


def test_10_clients_x_200_mixed_requests(nginx, nodown, cfg, static_root):
    b1, b2 = nginx("b1"), nginx("b2")
    nd = nodown(cfg([b1, b2], workers=2))
    small = static_root[1]["small.txt"]
    errors = []
    done = []

    def client(k):
        conn = http.client.HTTPConnection("127.0.0.1", nd.port, timeout=10)
        n = 0
        try:
            for i in range(200):
                kind = (i + k) % 4
                if kind == 0:
                    conn.request("GET", "/small.txt")
                    want = small
                elif kind == 1:
                    want = os.urandom(1 + (i * 37 + k) % 5000)
                    conn.request("POST", "/echo", body=want)
                elif kind == 2:
                    want = os.urandom(1 + (i * 101 + k) % 70000)
                    conn.request("POST", "/echo", body=iter([want[:1000], want[1000:]]),
                                 encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
                else:
                    conn.request("GET", "/whoami")
                    want = None
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    errors.append((k, i, r.status, body[:100]))
                elif want is not None and body != want:
                    errors.append((k, i, "body mismatch", len(body), len(want)))
                elif want is None and body not in (b"b1\n", b"b2\n"):
                    errors.append((k, i, "whoami", body))
                n += 1
        except Exception as e:
            errors.append((k, n, repr(e)))
        finally:
            conn.close()
            done.append(n)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "clients still running after 60 s"
    assert errors == [], errors[:10]
    assert sum(done) == 2000
    assert wait_for(lambda: len(b1.access_lines()) + len(b2.access_lines()) == 2000), \
        (len(b1.access_lines()), len(b2.access_lines()))
    assert len(b1.access_lines()) > 500 and len(b2.access_lines()) > 500


def test_connection_churn(nginx, nodown, cfg):
    """10 clients x 50 requests, each on its own connection."""
    b = nginx("b1")
    nd = nodown(cfg([b], workers=2))
    errors = []

    def client(k):
        for i in range(50):
            try:
                with connect(nd.port) as s:
                    s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n"
                              b"Connection: close\r\n\r\n%03d%03d" % (k, i))
                    r = HTTPReader(s).read_response()
                    if r.status != 200 or r.body != b"%03d%03d" % (k, i):
                        errors.append((k, i, r.status, r.body))
            except Exception as e:
                errors.append((k, i, repr(e)))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [], errors[:10]
    assert wait_for(lambda: len(b.access_lines()) == 500)
