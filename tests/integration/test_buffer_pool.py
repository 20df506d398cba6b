"""The bounded buffer pool: when it runs dry, requests wait; none fail and
none deadlock (a request is admitted only with every buffer its exchange
needs, so requests waiting for responses cannot starve each other)."""
import concurrent.futures
import time

from conftest import http_get

SLEEP = 'location = /sleep { echo_sleep 1; echo done; }'


def test_pool_exhaustion_makes_requests_wait_not_fail(nginx, nodown, cfg):
    ng = nginx("slow", locations=SLEEP)
    # 16 buffers for 1 worker: at most a handful of exchanges at once.
    nd = nodown(cfg([ng], top={"buffers": {"size": "16k", "max": 16}}))
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as ex:
        results = list(ex.map(lambda _: http_get(nd.port, "/sleep", timeout=20), range(12)))
    took = time.monotonic() - t0
    statuses = [r.status for r in results]
    assert statuses == [200] * 12, statuses
    assert all(r.body.strip() == b"done" for r in results)
    # Each wave takes ~1 s; a deadlock would hit the 20 s client timeout.
    assert took < 15, took


def test_pool_exhaustion_then_normal_service(nginx, nodown, cfg):
    ng = nginx("slow", locations=SLEEP)
    nd = nodown(cfg([ng], top={"buffers": {"size": "16k", "max": 16}}))
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as ex:
        list(ex.map(lambda _: http_get(nd.port, "/sleep", timeout=20), range(10)))
    # After the burst every buffer is back: a plain request is answered at once.
    r = http_get(nd.port, "/whoami", timeout=5)
    assert r.status == 200 and r.body.strip() == b"slow"
