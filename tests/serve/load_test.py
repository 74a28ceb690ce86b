#!/usr/bin/env python3
"""Load and fault test of `youzhi serve` on the bundled model (CPU, bounded in time).

At the same time: 64 streaming clients with greedy requests (completions and chat), 16 clients
that disconnect mid-stream, and a stream of malformed requests (bad JSON, wrong types, unknown
fields, oversized prompts, broken HTTP). Passes when every valid request succeeds with exactly
the text `youzhi generate` produces offline for its prompt, every malformed request gets a 4xx
OpenAI error object (or, for broken HTTP, a 4xx or a closed connection; never a 5xx or a hang),
the 16 disconnects are aborted, a burst of 256 connections is answered, the KV pool is back to empty afterwards (/metrics), and SIGTERM
then exits 0. Usage: load_test.py path/to/youzhi REPO_ROOT
"""
import concurrent.futures
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

YZ, ROOT = sys.argv[1], sys.argv[2]
MODEL = os.path.join(ROOT, "models", "yz-qwen2-gqa-16m")
MAX_TOKENS = 24
VALID, DISCONNECTS = 64, 16
LOAD_SECONDS = 120  # the load phase (server start to the last client), after the offline references
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg, flush=True)


def prompts():
    """Eight prompts of 6 to 34 words from held-out text."""
    lines = [l.strip() for l in open(os.path.join(ROOT, "data", "demo", "wikitext2_test_head.txt"), encoding="utf-8")]
    lines = [l for l in lines if len(l.split()) > 40 and not l.startswith("=")]
    return [" ".join(lines[i].split()[: 6 + 4 * i]) for i in range(8)]


def offline(prompt, chat):
    """`youzhi generate` greedy: the reference text and token count."""
    cmd = [YZ, "generate", MODEL, "--prompt", prompt, "--max-new-tokens", str(MAX_TOKENS), "--json"]
    if chat:
        cmd.append("--chat")
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout)
    return out["text"], len(out["ids"])


def sse_events(resp):
    """Yields the data of each SSE event of an http.client response."""
    data = []
    while True:
        line = resp.readline()
        if not line:
            return
        line = line.decode("utf-8").rstrip("\r\n")
        if line == "":
            if data:
                yield "\n".join(data)
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" ") if line[5:6] == " " else line[5:])


def stream(port, chat, prompt, max_tokens):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    body = {"max_tokens": max_tokens, "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    conn.request("POST", "/v1/chat/completions" if chat else "/v1/completions", json.dumps(body),
                 {"Content-Type": "application/json"})
    return conn, conn.getresponse()


def valid_client(port, i, prompt, chat, want_text, want_tokens):
    conn, resp = stream(port, chat, prompt, MAX_TOKENS)
    if resp.status != 200:
        return fail(f"valid request {i}: HTTP {resp.status} {resp.read()[:200]}")
    text, usage, finish, done = "", None, None, False
    for ev in sse_events(resp):
        if ev == "[DONE]":
            done = True
            break
        chunk = json.loads(ev)
        if chunk.get("usage"):
            usage = chunk["usage"]
        for c in chunk["choices"]:
            text += (c["delta"].get("content") or "") if chat else c["text"]
            finish = c["finish_reason"] or finish
    conn.close()
    if not done:
        return fail(f"valid request {i}: stream ended without [DONE]")
    if text != want_text:
        return fail(f"valid request {i} ({'chat' if chat else 'completion'}): {text!r} != offline {want_text!r}")
    if usage is None or usage["completion_tokens"] != want_tokens:
        return fail(f"valid request {i}: usage {usage}, offline generated {want_tokens} tokens")
    if finish != ("length" if want_tokens == MAX_TOKENS else "stop"):
        return fail(f"valid request {i}: finish_reason {finish} after {want_tokens} tokens")


def disconnecting_client(port, i, prompt):
    conn, resp = stream(port, i % 2 == 1, prompt, 1500)
    if resp.status != 200:
        return fail(f"disconnecting request {i}: HTTP {resp.status}")
    events = sse_events(resp)
    for _ in range(2 + i % 4):
        next(events)
    conn.sock.shutdown(socket.SHUT_RDWR)  # gone without a word, mid-stream
    conn.close()


# Malformed requests: (body or raw bytes, whether it is raw HTTP).
BAD_BODIES = [
    b"{", b"", b"null", b"[]", b"\"text\"", b'{"prompt": 5}', b'{"prompt": "a", "max_tokens": "10"}',
    b'{"prompt": "a", "temperature": 9}', b'{"prompt": "a", "frobnicate": 1}', b'{"prompt": "a", "n": 3}',
    b'{"prompt": "a", "max_tokens": 100000}', b'{"prompt": [1, 2, 99999999]}', b'{"prompt": "a", "stream": 1}',
    b'{"prompt": "\xff\xfe invalid utf-8"}', b'{"prompt": "' + b"word " * 3000 + b'"}', b'{"prompt": []}',
    b'{"prompt": "a", "stream_options": {"include_usage": true}}', b'{"prompt": "a", "model": "nope"}',
    b'{"messages": []}', b'{"messages": [{"role": "user"}]}', b'{"messages": [{"role": "x", "content": "y"}]}',
    b'{"messages": "hi"}', b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
    b"[" * 50000,
]
RAW = [
    b"GARBAGE\r\n\r\n", b"POST /v1/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"prompt\"",
    b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", b"\x00\x01\x02\xff" * 64 + b"\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", b"POST /v1/completions HTTP/1.1\r\nX: " + b"y" * 20000 + b"\r\n\r\n",
    b"DELETE /v1/completions HTTP/1.1\r\nHost: x\r\n\r\n", b"POST /v1/chat/completions HTTP/1.1\r\n\r\n",
]


def raw_request(port, data, half_close):
    """Sends bytes; returns (status or None if the server just closed, body). half_close: end
    the write side after sending (a client giving up mid-request; cpp-httplib may then close
    without a reply, so that is only done for broken HTTP, where a close is an accepted answer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    except (ConnectionResetError, BrokenPipeError):
        return None, b""
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
    return (int(m.group(1)) if m else None), reply.split(b"\r\n\r\n", 1)[-1]


def malformed_client(port, stop):
    sent = 0
    while not stop.is_set() or sent < 2 * (len(BAD_BODIES) + len(RAW)):
        for body in BAD_BODIES:
            path = b"/v1/chat/completions" if body.startswith(b'{"messages') else b"/v1/completions"
            req = (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                   str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            status, reply = raw_request(port, req, half_close=False)
            sent += 1
            if status is None or not 400 <= status < 500:
                fail(f"malformed body {body[:60]!r}: status {status}")
                continue
            try:
                err = json.loads(reply)["error"]
                assert err["message"] and err["type"]
            except Exception:
                fail(f"malformed body {body[:60]!r}: not an OpenAI error object: {reply[:200]!r}")
        for data in RAW:
            status, _ = raw_request(port, data, half_close=True)
            sent += 1
            if status is not None and not 400 <= status < 500:
                fail(f"broken HTTP {data[:40]!r}: status {status}")
    return sent


def connect_burst(port, n=256):
    """n clients connect before any of them sends a request, then each asks /health: every one
    is answered (with cpp-httplib's listen backlog of 5 most were reset by the peer)."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(n)]
    bad = []
    for s in socks:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    for s in socks:
        try:
            reply = s.recv(64)
            if not reply.startswith(b"HTTP/1.1 200"):
                bad.append(reply)
        except OSError as e:
            bad.append(repr(e))
        finally:
            s.close()
    if bad:
        fail(f"connect burst: {len(bad)} of {n} clients not answered 200, e.g. {bad[0]!r}")


def metric(text, name, labels=""):
    m = re.search(r"^" + re.escape(name) + r"\{[^}]*" + re.escape(labels) + r"[^}]*\} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def main():
    ps = prompts()
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        refs = {(p, chat): ex.submit(offline, p, chat) for p in ps for chat in (False, True)}
        refs = {k: f.result() for k, f in refs.items()}
    print(f"offline references: {len(refs)} in {time.time() - t0:.1f} s", flush=True)

    server = subprocess.Popen([YZ, "serve", MODEL, "--port", "0", "--max-num-seqs", "96", "--max-waiting", "32",
                               "--kv-cache-memory", "0.25", "--shutdown-grace", "5"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = []
    port = None
    for line in server.stdout:
        log.append(line)
        m = re.search(r"Listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
        if line.startswith("Serving "):
            break
    if port is None:
        print("".join(log))
        sys.exit("server did not start")
    threading.Thread(target=lambda: [log.append(l) for l in server.stdout], daemon=True).start()
    if not any("Maximum concurrency for" in l for l in log):
        fail("no 'Maximum concurrency for N tokens per request' startup line")

    connect_burst(port)
    stop = threading.Event()
    t0 = time.time()
    deadline = t0 + LOAD_SECONDS
    with concurrent.futures.ThreadPoolExecutor(VALID + DISCONNECTS + 1) as ex:
        bad = ex.submit(malformed_client, port, stop)
        jobs = []
        for i in range(VALID):
            p, chat = ps[i % len(ps)], i % 4 == 3
            jobs.append(ex.submit(valid_client, port, i, p, chat, *refs[(p, chat)]))
        for i in range(DISCONNECTS):
            jobs.append(ex.submit(disconnecting_client, port, i, ps[i % len(ps)]))
        for j in jobs:
            try:
                j.result(timeout=max(1, deadline - time.time()))
            except Exception as e:  # a hang or a broken connection is a failure too
                fail(f"client error: {e!r}")
        stop.set()
        print(f"{VALID} valid + {DISCONNECTS} disconnecting clients done in {time.time() - t0:.1f} s; "
              f"{bad.result(timeout=60)} malformed requests", flush=True)

    # Aborted requests free their blocks: the pool is empty and nothing runs or waits.
    for _ in range(50):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        values = [metric(text, n) for n in ("vllm:num_requests_running", "vllm:num_requests_waiting",
                                            "vllm:kv_cache_usage_perc")]
        if values == [0.0, 0.0, 0.0]:
            break
        time.sleep(0.1)
    else:
        fail(f"after the load: running, waiting, kv usage = {values}")
    aborted = metric(text, "vllm:request_success_total", 'finished_reason="abort"')
    finished = sum(metric(text, "vllm:request_success_total", f'finished_reason="{r}"') for r in ("stop", "length"))
    if aborted != DISCONNECTS or finished != VALID:
        fail(f"request_success_total: {finished} stop/length (want {VALID}), {aborted} abort (want {DISCONNECTS})")

    server.send_signal(signal.SIGTERM)
    try:
        rc = server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = "hung"
    if rc != 0:
        fail(f"SIGTERM: exit {rc}\n" + "".join(log[-20:]))
    print("PASS" if not failures else f"{len(failures)} failures", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
