"""``WEBHOOK_PROXY_URL``: deliveries read from a smee.io channel and handed to this server, for development on
a machine GitHub cannot reach (as Probot does; no smee client to run beside it).

The channel is an event stream; each message is a delivery as smee keeps it: GitHub's headers (lowercased)
and the JSON body.  The body is written back as compact JSON, as smee's own client writes it, and posted to
``/webhook`` with the headers that matter, so the signature is checked as for a delivery from GitHub.  The
stream is read again after a pause whenever it ends or fails, until the server stops.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

log = logging.getLogger("repoagent.app")
FORWARDED = ("x-github-event", "x-github-delivery", "x-hub-signature-256", "x-hub-signature", "user-agent")


def deliveries(lines: Any) -> Any:
    """The deliveries in an event stream's lines (``data:`` lines up to a blank one; other events skipped)."""
    data: list[str] = []
    event = "message"
    for raw in lines:
        line = raw.rstrip("\r")
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif not line:
            if data and event == "message":
                try:
                    message = json.loads("\n".join(data))
                except ValueError:
                    message = None
                if isinstance(message, dict) and "x-github-event" in message:
                    yield message
            data, event = [], "message"


def forward(message: dict[str, Any], target: str) -> int:
    import httpx

    body = json.dumps(message.get("body"), separators=(",", ":"), ensure_ascii=False).encode()
    headers = {k: str(message[k]) for k in FORWARDED if k in message}
    headers["content-type"] = "application/json"
    return httpx.post(target, content=body, headers=headers, timeout=30).status_code


def start(channel: str, target: str, stop: threading.Event, pause: float = 2.0) -> threading.Thread:
    """A thread that forwards the channel's deliveries to ``target`` until ``stop`` is set."""
    import httpx

    def run() -> None:
        while not stop.is_set():
            try:
                with httpx.stream("GET", channel, headers={"Accept": "text/event-stream"}, timeout=None) as resp:
                    log.info("webhook proxy: reading %s", channel)
                    for message in deliveries(resp.iter_lines()):
                        status = forward(message, target)
                        log.info("webhook proxy: %s %s -> %s", message.get("x-github-event"),
                                 message.get("x-github-delivery"), status)  # fmt: skip
                        if stop.is_set():
                            return
            except Exception as exc:  # noqa: BLE001 - the channel is read again after a pause
                log.warning("webhook proxy: %s: %s; reading it again", channel, exc)
            stop.wait(pause)

    thread = threading.Thread(target=run, name="webhook-proxy", daemon=True)
    thread.start()
    return thread
