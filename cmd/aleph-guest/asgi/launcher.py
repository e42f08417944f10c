"""Serve an ASGI application over HTTP/1.1 with the standard library only.

Usage: python3 launcher.py module.sub:app

aleph-guest runs this for programs of interface "asgi" when the runtime has
no launcher of its own. It listens on ALEPH_HTTP_ADDR (default
127.0.0.1:8080), imports the app from the current directory (the code) and
/opt/packages, runs the lifespan protocol, and answers each request with the
whole body buffered, as the reference runtime does. SIGTERM runs the lifespan
shutdown (10 s at most) and exits.
"""

import asyncio
import importlib
import os
import signal
import sys
import threading
import traceback
from urllib.parse import unquote

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
# Stack of the threads the app starts (FastAPI runs sync routes in a pool
# of up to 40): the default is RLIMIT_STACK, 8 MiB, and a sandbox's memory
# limit (RLIMIT_DATA) counts every stack mapping whole, so 40 default
# stacks are 320 MiB of a program's memory before any use.
THREAD_STACK = 1024 * 1024


def load(entrypoint):
    sys.path.insert(0, os.getcwd())
    if os.path.isdir("/opt/packages"):
        sys.path.insert(0, "/opt/packages")
    module, _, attr = entrypoint.partition(":")
    obj = importlib.import_module(module)
    for part in (attr or "app").split("."):
        obj = getattr(obj, part)
    return obj


class Lifespan:
    def __init__(self, app):
        self.app = app
        self.queue = asyncio.Queue()
        self.started = asyncio.get_running_loop().create_future()
        self.stopped = asyncio.get_running_loop().create_future()
        self.supported = True

    async def run(self):
        async def receive():
            return await self.queue.get()

        async def send(message):
            kind = message["type"]
            if kind.startswith("lifespan.startup"):
                if not self.started.done():
                    self.started.set_result(message)
            elif kind.startswith("lifespan.shutdown"):
                if not self.stopped.done():
                    self.stopped.set_result(message)

        try:
            await self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
        except BaseException:
            # An app without lifespan support raises: carry on without it.
            self.supported = False
        for f in (self.started, self.stopped):
            if not f.done():
                f.set_result(None)

    async def startup(self):
        asyncio.get_running_loop().create_task(self.run())
        await self.queue.put({"type": "lifespan.startup"})
        message = await asyncio.wait_for(self.started, 30)
        if message and message["type"] == "lifespan.startup.failed":
            raise RuntimeError("lifespan startup failed: " + message.get("message", ""))

    async def shutdown(self):
        if not self.supported:
            return
        await self.queue.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self.stopped, 10)
        except asyncio.TimeoutError:
            pass


class BadRequest(Exception):
    pass


async def read_request(reader):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest("request head too large")
    lines = head[:-4].split(b"\r\n")
    try:
        method, target, version = lines[0].decode("latin-1").split(" ", 2)
    except ValueError:
        raise BadRequest("bad request line")
    headers = []
    length = 0
    chunked = False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise BadRequest("bad header")
        name = name.strip().lower()
        value = value.strip()
        headers.append([name, value])
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        body = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
            if len(body) > MAX_BODY:
                raise BadRequest("body too large")
        body = bytes(body)
    else:
        if length < 0 or length > MAX_BODY:
            raise BadRequest("body too large")
        body = await reader.readexactly(length) if length else b""
    path, _, query = target.partition("?")
    keep_alive = version == "HTTP/1.1" and not any(
        n == b"connection" and v.lower() == b"close" for n, v in headers
    )
    return method, path, query, headers, body, keep_alive


def render(status, headers, body, keep_alive):
    lines = [("HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Status"))).encode("latin-1")]
    for name, value in headers:
        if name.lower() in (b"content-length", b"transfer-encoding", b"connection"):
            continue
        lines.append(name + b": " + value + b"\r\n")
    lines.append(b"content-length: %d\r\n" % len(body))
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    return b"".join(lines) + b"\r\n" + body


REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


async def call(app, server, client, method, path, query, headers, body):
    sent = asyncio.Event()
    received = False

    async def receive():
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await sent.wait()
        return {"type": "http.disconnect"}

    start = {}
    parts = []

    async def send(message):
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            parts.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                sent.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "client": client,
        "server": server,
        "state": {},
    }
    try:
        await app(scope, receive, send)
    except Exception:
        traceback.print_exc()
        if not start:
            return 500, [[b"content-type", b"text/plain; charset=utf-8"]], traceback.format_exc().encode()
    sent.set()
    if not start:
        return 500, [[b"content-type", b"text/plain"]], b"ASGI application sent no response"
    return start.get("status", 200), [[bytes(n), bytes(v)] for n, v in start.get("headers", [])], b"".join(parts)


async def main(entrypoint):
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    host, _, port = os.environ.get("ALEPH_HTTP_ADDR", "127.0.0.1:8080").rpartition(":")
    app = load(entrypoint)
    lifespan = Lifespan(app)
    await lifespan.startup()

    async def handle(reader, writer):
        peer = writer.get_extra_info("peername")
        client = [peer[0], peer[1]] if isinstance(peer, tuple) else None
        try:
            while True:
                try:
                    request = await read_request(reader)
                except (BadRequest, ValueError) as e:
                    writer.write(render(400, [], str(e).encode(), False))
                    break
                if request is None:
                    break
                method, path, query, headers, body, keep_alive = request
                status, rheaders, rbody = await call(app, [host, int(port)], client, method, path, query, headers, body)
                writer.write(render(status, rheaders, rbody, keep_alive))
                await writer.drain()
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, int(port), limit=MAX_HEAD)
    print("aleph asgi launcher: serving %s on %s:%s" % (entrypoint, host, port), flush=True)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    await stop
    server.close()
    await lifespan.shutdown()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: launcher.py module:app", file=sys.stderr)
        sys.exit(2)
    threading.stack_size(THREAD_STACK)
    asyncio.run(main(sys.argv[1]))
