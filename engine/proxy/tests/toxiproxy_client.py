"""Drives faultline-proxy with PyPI's toxiproxy-python, a Toxiproxy client nobody here wrote.

Usage: python toxiproxy_client.py API_HOST API_PORT ECHO_HOST:ECHO_PORT
Prints one line per step and OK at the end; any failure raises (non-zero exit).
"""
import socket
import sys
import time

from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

api_host, api_port, echo = sys.argv[1], int(sys.argv[2]), sys.argv[3]

server = Toxiproxy()
server.update_api_consumer(api_host, api_port)
assert server.running(), "the API does not accept connections"
print("version", server.version())


def round_trip(listen, msg=b"ping"):
    host, port = listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.monotonic()
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            chunk = s.recv(len(msg) - len(got))
            assert chunk, "connection closed early"
            got += chunk
        assert got == msg, got
        return time.monotonic() - start


proxy = server.create(upstream=echo, name="echo")
print("created", proxy.name, proxy.listen, proxy.upstream, proxy.enabled)
assert proxy.enabled is True
assert "echo" in server.proxies()
base = round_trip(proxy.listen)
print("direct-ish round trip %.1f ms" % (base * 1000))

proxy.add_toxic(type="latency", attributes={"latency": 200, "jitter": 0})
toxics = proxy.toxics()
assert list(toxics) == ["latency_downstream"], toxics
t = toxics["latency_downstream"]
assert (t.type, t.stream, t.toxicity, t.attributes) == ("latency", "downstream", 1.0, {"latency": 200, "jitter": 0}), vars(t)
slow = round_trip(proxy.listen)
print("with 200 ms latency %.1f ms" % (slow * 1000))
assert slow >= 0.2, slow

proxy.destroy_toxic("latency_downstream")
assert proxy.toxics() == {}
fast = round_trip(proxy.listen)
print("latency removed %.1f ms" % (fast * 1000))
assert fast < 0.2, fast

with proxy.down():
    assert server.get_proxy("echo").enabled is False
    try:
        round_trip(proxy.listen)
        raise AssertionError("a disabled proxy must refuse connections")
    except ConnectionRefusedError:
        print("down: connection refused")
assert server.get_proxy("echo").enabled is True
round_trip(proxy.listen)

# The server's own errors, as the client maps them.
for call, exc in [
    (lambda: APIConsumer.post("/proxies", json={"name": "echo", "upstream": echo}), ProxyExists),
    (lambda: proxy.add_toxic(type="teleport"), InvalidToxic),
    (lambda: proxy.add_toxic(type="latency", attributes={"latency": -5}), InvalidToxic),
    (lambda: APIConsumer.get("/proxies/ghost"), NotFound),
]:
    try:
        call()
        raise AssertionError("expected %s" % exc.__name__)
    except exc as e:
        print("refused:", exc.__name__, e)

proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
proxy.disable()
assert server.reset() is True
again = server.get_proxy("echo")
assert again.enabled is True and again.toxics() == {}, vars(again)
round_trip(proxy.listen)

server.destroy_all()
assert server.proxies() == {}
print("OK")
