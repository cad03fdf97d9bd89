#!/usr/bin/python3
"""One Paho MQTT 1.6 client over WebSocket, driven by JSON lines, for the interop tests.

Run with the system interpreter (/usr/bin/python3): Debian's python3-paho-mqtt
is installed for it only.

stdin, one request per line:  {"id": 1, "op": "connect", ...}
stdout, one reply per request: {"id": 1, "ok": true, ...}   (or "ok": false, "error", "rc")
stdout, unsolicited events:    {"event": "message", "topic", "payload" (hex), "qos", "retain"}
                               {"event": "disconnect", "rc"}
                               {"event": "progress", "sent", "received"}
Closing stdin ends the process; the tests kill it with SIGKILL to simulate a crash.

Ops: connect {url, client_id, version (4|5), clean, keepalive, will?, username?, password?}
     subscribe {topic, qos} -> {granted}
     publish {topic, payload (hex), qos, retain}   replies when the QoS flow completes
     disconnect                                    replies once the connection is closed
     echo {topic, rate, duration, qos, drain}      the seed article's client.py: publish
                                                   "Payload N" to a topic subscribed before
"""
import json
import sys
import threading
import time
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

_out_lock = threading.Lock()
WAIT_SECONDS = 10


def emit(obj):
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def code_of(rc):
    """Paho gives 3.1.1 codes as int and v5 codes as ReasonCodes."""
    return rc if isinstance(rc, int) else rc.value


class Acks:
    """Matches SUBACK/PUBACK/PUBCOMP callbacks (by mid) to the request waiting for them.

    A callback may run before publish()/subscribe() has returned its mid, on
    either thread, so results that come first are kept until the request asks.
    """

    def __init__(self):
        self._lock = threading.RLock()
        self._waiting = {}
        self._early = {}

    def wait(self, mid, request_id):
        with self._lock:
            if mid in self._early:
                emit(dict(self._early.pop(mid), id=request_id, ok=True))
            else:
                self._waiting[mid] = request_id

    def fail_all(self, error):
        """The connection is gone: no SUBACK or PUBACK will come for the requests still waiting."""
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for request_id in waiting.values():
            emit({"id": request_id, "ok": False, "error": error})

    def settle(self, mid, result):
        with self._lock:
            request_id = self._waiting.pop(mid, None)
            if request_id is None:
                self._early[mid] = result
            else:
                emit(dict(result, id=request_id, ok=True))


class EchoRun:
    """Counts the echoes of "Payload N" messages: missing, duplicated, out of order, latency."""

    def __init__(self):
        self.sent_at = {}
        self.received = set()
        self.duplicates = 0
        self.out_of_order = 0
        self.last = 0
        self.max_latency = 0.0

    def on_echo(self, payload):
        try:
            n = int(payload.decode().split(" ")[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            return
        if n in self.received:
            self.duplicates += 1
            return
        self.received.add(n)
        if n < self.last:
            self.out_of_order += 1
        self.last = max(self.last, n)
        sent = self.sent_at.get(n)
        if sent is not None:
            self.max_latency = max(self.max_latency, time.monotonic() - sent)

    def summary(self, sent, disconnects):
        missing = sorted(set(range(1, sent + 1)) - self.received)
        return {
            "sent": sent,
            "received": len(self.received),
            "missing": len(missing),
            "first_missing": missing[:10],
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "max_latency_ms": round(self.max_latency * 1000, 1),
            "disconnects": disconnects,
        }


class Driver:
    def __init__(self):
        self.client = None
        self.acks = Acks()
        self.connect_id = None
        self.disconnect_id = None
        self.disconnects = 0
        self.echo = None

    # --- paho callbacks (network thread) ---

    def on_connect(self, _client, _userdata, flags, rc, _properties=None):
        code = code_of(rc)
        request_id, self.connect_id = self.connect_id, None
        if request_id is not None:
            emit({"id": request_id, "ok": code == 0, "rc": code,
                  "session_present": bool(flags.get("session present", 0))})

    def on_disconnect(self, _client, _userdata, rc, _properties=None):
        code = code_of(rc)
        request_id, self.disconnect_id = self.disconnect_id, None
        if request_id is not None:
            emit({"id": request_id, "ok": True, "rc": code})
            return
        self.disconnects += 1
        emit({"event": "disconnect", "rc": code})
        self.acks.fail_all(f"connection lost (rc {code})")

    def on_subscribe(self, _client, _userdata, mid, granted, _properties=None):
        self.acks.settle(mid, {"granted": [code_of(g) for g in granted]})

    def on_publish(self, _client, _userdata, mid):
        self.acks.settle(mid, {})

    def on_message(self, _client, _userdata, message):
        if self.echo is not None:
            self.echo.on_echo(message.payload)
            return
        emit({"event": "message", "topic": message.topic, "payload": message.payload.hex(),
              "qos": message.qos, "retain": bool(message.retain)})

    # --- ops (main thread) ---

    def op_connect(self, req):
        url = urlparse(req["url"])
        version = mqtt.MQTTv5 if req["version"] == 5 else mqtt.MQTTv311
        clean = req.get("clean", True)
        kwargs = {} if version == mqtt.MQTTv5 else {"clean_session": clean}
        client = mqtt.Client(client_id=req["client_id"], protocol=version, transport="websockets",
                             reconnect_on_failure=False, **kwargs)
        client.ws_set_options(path=url.path or "/mqtt")
        for name in ("on_connect", "on_disconnect", "on_subscribe", "on_publish", "on_message"):
            setattr(client, name, getattr(self, name))
        will = req.get("will")
        if will is not None:
            client.will_set(will["topic"], bytes.fromhex(will["payload"]), will["qos"], will["retain"])
        if req.get("username") is not None:
            client.username_pw_set(req["username"], req.get("password"))
        self.client = client
        self.connect_id = req["id"]
        if version == mqtt.MQTTv5:
            client.connect(url.hostname, url.port, keepalive=req.get("keepalive", 60), clean_start=clean)
        else:
            client.connect(url.hostname, url.port, keepalive=req.get("keepalive", 60))
        client.loop_start()

    def op_subscribe(self, req):
        rc, mid = self.client.subscribe(req["topic"], req["qos"])
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"subscribe failed: {mqtt.error_string(rc)}")
        self.acks.wait(mid, req["id"])

    def op_publish(self, req):
        info = self.client.publish(req["topic"], bytes.fromhex(req["payload"]), req["qos"], req["retain"])
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        self.acks.wait(info.mid, req["id"])

    def op_disconnect(self, req):
        self.disconnect_id = req["id"]
        self.client.disconnect()

    def op_echo(self, req):
        topic, qos = req["topic"], req.get("qos", 0)
        run = EchoRun()
        self.echo = run
        sent = self.publish_paced(run, topic, qos, req["rate"], req["duration"])
        deadline = time.monotonic() + req.get("drain", 10)
        while len(run.received) < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        self.echo = None
        emit(dict(run.summary(sent, self.disconnects), id=req["id"], ok=True))

    def publish_paced(self, run, topic, qos, rate, duration):
        """client.py's loop, but paced on a clock so the rate is exactly `rate` per second."""
        start = time.monotonic()
        sent, tick, next_progress = 0, 0, start + 5
        while time.monotonic() - start < duration:
            if self.client.is_connected():
                sent += 1
                run.sent_at[sent] = time.monotonic()
                self.client.publish(topic, f"Payload {sent}", qos)
            tick += 1
            time.sleep(max(0.0, start + tick / rate - time.monotonic()))
            if time.monotonic() >= next_progress:
                next_progress += 5
                emit({"event": "progress", "sent": sent, "received": len(run.received)})
        return sent


def main():
    driver = Driver()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            getattr(driver, "op_" + req["op"])(req)
        except Exception as err:  # every failure becomes the request's reply
            emit({"id": req.get("id"), "ok": False, "error": f"{type(err).__name__}: {err}"})


if __name__ == "__main__":
    main()
