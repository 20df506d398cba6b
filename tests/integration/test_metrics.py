"""GET /metrics on the admin socket, read by a real Prometheus text parser
(python3-prometheus-client)."""
import socket

from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port, http_get


def scrape(nd):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(nd.cfg["admin"]["socket"])
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    head, _, body = out.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0] and b"text/plain; version=0.0.4" in head
    samples = {}
    fams = {}
    for fam in text_string_to_metric_families(body.decode()):
        fams[fam.name] = fam.type
        for smp in fam.samples:
            samples[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    return fams, samples


def val(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_parse_and_count(nginx, nodown, cfg):
    a = nginx("a")
    dead = free_port()
    nd = nodown(cfg([a, ("dead", dead)], pool={"passive_fall": 0}))
    for _ in range(6):
        assert http_get(nd.port, "/whoami").status == 200
    assert http_get(nd.port, "/missing").status == 404
    fams, s = scrape(nd)
    assert fams["nodown_backend_requests"] == "counter"
    assert fams["nodown_backend_response_duration_seconds"] == "histogram"
    assert fams["nodown_backend_in_flight"] == "gauge"
    assert val(s, "nodown_backend_requests_total", pool="app", backend="a") == 7
    assert val(s, "nodown_backend_responses_total", pool="app", backend="a", **{"class": "2xx"}) == 6
    assert val(s, "nodown_backend_responses_total", pool="app", backend="a", **{"class": "4xx"}) == 1
    # the dead backend's refused connects were retried on a
    errs = val(s, "nodown_backend_connect_errors_total", pool="app", backend="dead")
    assert errs >= 1
    assert val(s, "nodown_backend_retries_total", pool="app", backend="dead") == errs
    assert val(s, "nodown_backend_response_duration_seconds_count", pool="app", backend="a") == 7
    assert val(s, "nodown_backend_response_duration_seconds_bucket", pool="app", backend="a",
               le="+Inf") == 7
    assert val(s, "nodown_backend_up", pool="app", backend="a") == 1
    assert val(s, "nodown_backend_state", pool="app", backend="a", state="ready") == 1
    assert val(s, "nodown_backend_state", pool="app", backend="a", state="down") == 0
    assert val(s, "nodown_listener_connections_accepted_total", listener="web") >= 7
    assert val(s, "nodown_listener_connections_active", listener="web") >= 0
