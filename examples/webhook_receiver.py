"""A webhook receiver that checks every request's signature before trusting it.

    FFMPEG_TASKS_WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py --port 8001

It prints one line per verified event (its id, type, task and status) and answers 204; a
request whose signature does not check out gets 401, an event id seen before gets 204 again
and is not printed twice (deliveries are retried, so the same event may arrive more than once).
Needs only the standard library and ``standardwebhooks`` (``pip install standardwebhooks``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from standardwebhooks import Webhook, WebhookVerificationError

#: The largest body accepted: a task's JSON is a few KiB.
MAX_BODY = 1024 * 1024


class Receiver(BaseHTTPRequestHandler):
    webhook: ClassVar[Webhook]
    #: Event ids handled already (a real receiver keeps them in its database).
    seen: ClassVar[set[str]] = set()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.answer(413)
            return
        body = self.rfile.read(length)  # the raw bytes: the signature covers them exactly
        try:
            event = self.webhook.verify(body, dict(self.headers))
        except WebhookVerificationError:
            self.answer(401)  # not from our service, altered, or older than five minutes
            return
        event_id = self.headers["webhook-id"]
        if event_id not in self.seen:
            self.seen.add(event_id)
            task = event["data"]
            print(event_id, event["type"], task["task_id"], task["status"], flush=True)
        self.answer(204)

    def answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the events are what this prints."""


def main() -> None:
    parser = argparse.ArgumentParser(description="Receive and verify ffmpeg-tasks webhooks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    secret = os.environ.get("FFMPEG_TASKS_WEBHOOK_SECRET")
    if not secret:
        sys.exit("set FFMPEG_TASKS_WEBHOOK_SECRET to the secret the service signs with")
    Receiver.webhook = Webhook(secret)
    server = ThreadingHTTPServer((args.host, args.port), Receiver)
    print(json.dumps({"listening": f"http://{args.host}:{server.server_port}/"}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
