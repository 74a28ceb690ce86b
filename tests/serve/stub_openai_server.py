#!/usr/bin/env python3
"""A minimal OpenAI-compatible server that is not ours, for `bench serve`'s "any server" test.

It streams the way other servers do and ours does not: CRLF line endings, ": ping" comments,
events split across writes and several events in one write, no usage chunk (so the client must
count tokens itself), a model list without "root". Each completion streams the words of a fixed
text, one chunk per word, `max_tokens` of them. Usage: stub_openai_server.py PORT_FILE
"""
import http.server
import json
import sys
import time

WORDS = "the quick brown fox jumps over the lazy dog and keeps running".split()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "stub-model", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert req["stream"] is True and req["model"] == "stub-model", req
        n = req.get("max_tokens") or req.get("max_completion_tokens")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def write(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        write(b": ping\r\n\r\n")
        for i in range(n):
            word = WORDS[i % len(WORDS)] + " "
            choice = {"index": 0, "delta": {"content": word}} if "messages" in req else {"index": 0, "text": word}
            event = b"data: " + json.dumps({"id": "x", "choices": [choice]}).encode() + b"\r\n\r\n"
            write(event[:7])  # an event cut in two writes
            write(event[7:])
            time.sleep(0.002)
        write(b"data: [DONE]\r\n\r\n")
        write(b"")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
