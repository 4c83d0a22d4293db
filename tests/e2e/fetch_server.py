#!/usr/bin/env python3
"""A test HTTP server on 127.0.0.1 for vae-data fetch. Serves DIR under
routes that misbehave on purpose:
  /good/F     the file
  /missing/F  404
  /html/F     an HTML error page with status 200
  /drop/F     the right Content-Length, half the bytes, then the connection closes
  /bad/F      the file with one byte changed
  /huge/F     announces a Content-Length of 10 GB, then sends zeros
  /endless/F  no Content-Length, zeros until the client hangs up
  /trickle/F  the right Content-Length, then 2 bytes a second
Every streaming route stops by itself after STREAM_SECONDS.
Writes the port it listens on to PORT_FILE. Stops after --lifetime seconds.
"""
import http.server
import os
import sys
import threading
import time

STREAM_SECONDS = 20

root, port_file = sys.argv[1], sys.argv[2]
lifetime = float(sys.argv[3]) if len(sys.argv) > 3 else 120


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if len(parts) != 2:
            return self.send_error(404)
        route, name = parts
        path = os.path.join(root, os.path.basename(name))
        if route == "missing" or not os.path.exists(path):
            return self.send_error(404)
        if route in ("huge", "endless", "trickle"):
            return self.stream(route, open(path, "rb").read())
        if route == "html":
            body = b"<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>"
        else:
            body = open(path, "rb").read()
        if route == "bad":
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/html" if route == "html" else "application/octet-stream")
        self.end_headers()
        if route == "drop":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


    def stream(self, route, body):
        self.send_response(200)
        if route == "huge":
            self.send_header("Content-Length", str(10 * 1000**3))
        elif route == "trickle":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.close_connection = True
        end = time.monotonic() + STREAM_SECONDS
        sent = 0
        try:
            while time.monotonic() < end and sent < len(body) * 1000:
                if route == "trickle":
                    self.wfile.write(body[sent:sent + 2])
                    sent += 2
                    self.wfile.flush()
                    time.sleep(1)
                else:
                    self.wfile.write(bytes(65536))
                    sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
threading.Timer(lifetime, server.shutdown).start()
server.serve_forever()
