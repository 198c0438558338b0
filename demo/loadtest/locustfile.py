"""Subscriber fan-out load test for MQTT Sentinel (Locust + paho-mqtt).

Subscriber users are devices connected to the edge, each subscribed to its own alert topic
(clients/{client_id}/alerts, the seed's per-device downlink) and to a shared broadcast topic.
Publisher users send alerts at a set rate, each carrying its send time; when a subscriber receives
one, the fan-out latency (publish -> delivery to the device through the platform) is reported to
Locust as a request of type "MQTT" named after the topic kind:

    MQTT  fanout clients/{id}/alerts   per-device alerts
    MQTT  fanout broadcast             the shared broadcast topic (one publish, every subscriber)
    MQTT  publish ...                  publish -> PUBACK at the publisher
    MQTT  connect                      TCP/TLS connect -> CONNACK (authentication included)

Where alerts are published (SENTINEL_LOADTEST_PUBLISH_VIA):
  origin (default)  at the customer's origin, with the origin app's credentials: the seed's main
                    downlink use. Path: origin -> bridge (subscribed to clients/+/#) ->
                    sentinel.downlink -> edge -> device.
  edge              as devices through the edge (the uplink first): edge -> Kafka -> processors ->
                    bridge -> origin -> bridge downlink -> edge -> device. Needs publisher devices
                    allowed to publish to clients/+/alerts (create-devices.sh --publishers K) and a
                    processors policy that accepts it (edge-fanout-policy.json, see README.md).

Run headless:
    locust -f locustfile.py --headless --host=mqtt://127.0.0.1:11883 -u 100 -r 50 -t 60s
    SENTINEL_LOADTEST_CAFILE=ca.pem locust -f locustfile.py --headless --host=mqtts://edge:18883 ...

Settings (environment):
  SENTINEL_LOADTEST_PREFIX        device id prefix (load): subscribers load-0, load-1, ...
  SENTINEL_LOADTEST_PASSWORD      device password (create-devices.sh's default)
  SENTINEL_LOADTEST_CAFILE        CA file for mqtts:// (edge) and for an mqtts:// origin
  SENTINEL_LOADTEST_INSECURE=1    skip the certificate host name check
  SENTINEL_LOADTEST_PUBLISH_VIA   origin | edge (origin)
  SENTINEL_LOADTEST_RATE          alerts per second, all publishers together (20)
  SENTINEL_LOADTEST_PUBLISHERS    publisher users (1)
  SENTINEL_LOADTEST_BROADCAST_TOPIC   shared topic (fleet/alerts); empty = none. The bridge must
                                  subscribe to it at the origin: SENTINEL_BRIDGE_DOWNLINK_FILTERS=clients/+/#,fleet/#
  SENTINEL_LOADTEST_BROADCAST_EVERY   one broadcast per this many alerts (10)
  SENTINEL_LOADTEST_QOS           QoS of subscriptions and publishes (1)
  SENTINEL_LOADTEST_ORIGIN_URL    origin for --publish-via origin (mqtt://127.0.0.1:21883)
  SENTINEL_LOADTEST_ORIGIN_USERNAME / _PASSWORD   origin credentials; default: the "app" account of
                                  .sentinel/origin/credentials.json (SENTINEL_STATE_DIR)
"""

import itertools
import json
import os
import ssl
import threading
import time
import uuid
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from locust import User, between, events, task
from locust.exception import StopUser

PREFIX = os.environ.get("SENTINEL_LOADTEST_PREFIX", "load")
PASSWORD = os.environ.get("SENTINEL_LOADTEST_PASSWORD", "sentinel-loadtest-device-secret")
CAFILE = os.environ.get("SENTINEL_LOADTEST_CAFILE", "")
INSECURE = os.environ.get("SENTINEL_LOADTEST_INSECURE", "0") == "1"
PUBLISH_VIA = os.environ.get("SENTINEL_LOADTEST_PUBLISH_VIA", "origin")
RATE = float(os.environ.get("SENTINEL_LOADTEST_RATE", "20"))
PUBLISHERS = int(os.environ.get("SENTINEL_LOADTEST_PUBLISHERS", "1"))
BROADCAST_TOPIC = os.environ.get("SENTINEL_LOADTEST_BROADCAST_TOPIC", "fleet/alerts")
BROADCAST_EVERY = int(os.environ.get("SENTINEL_LOADTEST_BROADCAST_EVERY", "10"))
QOS = int(os.environ.get("SENTINEL_LOADTEST_QOS", "1"))
ORIGIN_URL = os.environ.get("SENTINEL_LOADTEST_ORIGIN_URL", "mqtt://127.0.0.1:21883")
RUN_ID = uuid.uuid4().hex[:8]

if PUBLISH_VIA not in ("origin", "edge"):
    raise SystemExit("SENTINEL_LOADTEST_PUBLISH_VIA must be origin or edge")

_subscriber_index = itertools.count()
_publisher_index = itertools.count()
_ready_subscribers = []  # client ids with a granted subscription, targets of per-device alerts
_lock = threading.Lock()
_stats = {"alerts_sent": 0, "broadcasts_sent": 0, "alerts_received": 0, "broadcasts_received": 0, "subscribers": 0}


def _origin_credentials():
    user = os.environ.get("SENTINEL_LOADTEST_ORIGIN_USERNAME")
    password = os.environ.get("SENTINEL_LOADTEST_ORIGIN_PASSWORD")
    if user and password:
        return user, password
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    state = os.environ.get("SENTINEL_STATE_DIR", os.path.join(root, ".sentinel"))
    path = os.path.join(state, "origin", "credentials.json")
    try:
        with open(path, encoding="utf-8") as handle:
            app = json.load(handle)["app"]
        return app["username"], app["password"]
    except (OSError, KeyError, ValueError) as err:
        raise SystemExit(
            f"no origin credentials: set SENTINEL_LOADTEST_ORIGIN_USERNAME/_PASSWORD or run the local platform ({path}: {err})"
        ) from err


def _new_client(client_id):
    """A paho client for MQTT 3.1.1 (paho 1.x API; paho 2.x with the version 1 callbacks)."""
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id=client_id, protocol=mqtt.MQTTv311)
    return mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311)


def _connect(client, url, username, password, name="connect"):
    """Connects and waits for the CONNACK; reports the connect as an MQTT request. Returns True on success."""
    parsed = urlparse(url)
    tls = parsed.scheme in ("mqtts", "ssl")
    port = parsed.port or (8883 if tls else 1883)
    if tls:
        client.tls_set(ca_certs=CAFILE or None, cert_reqs=ssl.CERT_REQUIRED)
        client.tls_insecure_set(INSECURE)
    client.username_pw_set(username, password)
    connected = threading.Event()
    result = {}

    def on_connect(_client, _userdata, _flags, rc):
        result["rc"] = rc
        connected.set()

    client.on_connect = on_connect
    start = time.perf_counter()
    error = None
    try:
        client.connect(parsed.hostname, port, keepalive=60)
        client.loop_start()
        if not connected.wait(15):
            error = TimeoutError("no CONNACK within 15 s")
        elif result["rc"] != 0:
            error = ConnectionRefusedError(f"CONNACK {result['rc']} ({mqtt.connack_string(result['rc'])})")
    except OSError as err:
        error = err
    events.request.fire(
        request_type="MQTT",
        name=name,
        response_time=(time.perf_counter() - start) * 1000,
        response_length=0,
        exception=error,
        context={},
    )
    if error is not None:
        client.loop_stop()
        return False
    return True


class SubscriberUser(User):
    """A device: subscribed to its own alert topic and to the broadcast topic, reporting latency."""

    weight = 100
    wait_time = between(5, 10)

    def on_start(self):
        self.client_id = f"{PREFIX}-{next(_subscriber_index)}"
        self.client = _new_client(self.client_id)
        self.client.on_message = self._on_message
        if not _connect(self.client, self.host, self.client_id, PASSWORD):
            raise StopUser()
        topics = [(f"clients/{self.client_id}/alerts", QOS)]
        if BROADCAST_TOPIC:
            topics.append((BROADCAST_TOPIC, QOS))
        granted = threading.Event()
        self.client.on_subscribe = lambda *_args: granted.set()
        start = time.perf_counter()
        self.client.subscribe(topics)
        ok = granted.wait(15)
        events.request.fire(
            request_type="MQTT",
            name="subscribe",
            response_time=(time.perf_counter() - start) * 1000,
            response_length=0,
            exception=None if ok else TimeoutError("no SUBACK within 15 s"),
            context={},
        )
        if ok:
            with _lock:
                _ready_subscribers.append(self.client_id)
                _stats["subscribers"] = max(_stats["subscribers"], len(_ready_subscribers))

    def on_stop(self):
        with _lock:
            if self.client_id in _ready_subscribers:
                _ready_subscribers.remove(self.client_id)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, _client, _userdata, message):
        now = time.time() * 1000
        try:
            body = json.loads(message.payload)
            sent = float(body["ts"])
            if body.get("run") != RUN_ID:
                return  # an alert of another run (retained or late): not ours to measure
        except (ValueError, KeyError, TypeError):
            return
        broadcast = message.topic == BROADCAST_TOPIC
        with _lock:
            _stats["broadcasts_received" if broadcast else "alerts_received"] += 1
        events.request.fire(
            request_type="MQTT",
            name="fanout broadcast" if broadcast else "fanout clients/{id}/alerts",
            response_time=max(0.0, now - sent),
            response_length=len(message.payload),
            exception=None,
            context={},
        )

    @task
    def idle(self):
        """Devices mostly listen; the paho network thread keeps the session (PINGREQ) alive."""


class PublisherUser(User):
    """Publishes alerts at SENTINEL_LOADTEST_RATE / PUBLISHERS per second, at the origin or through the edge."""

    fixed_count = PUBLISHERS

    def wait_time(self):
        """Constant pacing: the next publish is due one interval after the previous one was due."""
        interval = PUBLISHERS / RATE if RATE > 0 else 1
        now = time.monotonic()
        self.next_due = max(getattr(self, "next_due", now) + interval, now - interval)
        return max(0.0, self.next_due - now)

    def on_start(self):
        index = next(_publisher_index)
        self.sequence = 0
        self.pending = {}
        if PUBLISH_VIA == "origin":
            username, password = _origin_credentials()
            self.client = _new_client(f"loadtest-origin-{RUN_ID}-{index}")
            url = ORIGIN_URL
        else:
            client_id = f"{PREFIX}-pub-{index}"
            username, password = client_id, PASSWORD
            self.client = _new_client(client_id)
            url = self.host
        self.client.on_publish = self._on_publish
        if not _connect(self.client, url, username, password, name=f"connect ({PUBLISH_VIA})"):
            raise StopUser()

    def on_stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def _on_publish(self, _client, _userdata, mid):
        entry = self.pending.pop(mid, None)
        if entry is None:
            return
        name, start = entry
        events.request.fire(
            request_type="MQTT",
            name=name,
            response_time=(time.perf_counter() - start) * 1000,
            response_length=0,
            exception=None,
            context={},
        )

    @task
    def publish_alert(self):
        with _lock:
            targets = list(_ready_subscribers)
        if not targets:
            return
        self.sequence += 1
        broadcast = bool(BROADCAST_TOPIC) and BROADCAST_EVERY > 0 and self.sequence % BROADCAST_EVERY == 0
        if broadcast:
            topic, name = BROADCAST_TOPIC, f"publish broadcast ({PUBLISH_VIA})"
        else:
            target = targets[self.sequence % len(targets)]
            topic, name = f"clients/{target}/alerts", f"publish alert ({PUBLISH_VIA})"
        payload = json.dumps({"ts": time.time() * 1000, "seq": self.sequence, "run": RUN_ID, "severity": "info"})
        start = time.perf_counter()
        info = self.client.publish(topic, payload, qos=QOS)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            events.request.fire(
                request_type="MQTT",
                name=name,
                response_time=0,
                response_length=0,
                exception=ConnectionError(mqtt.error_string(info.rc)),
                context={},
            )
            return
        if QOS > 0:
            self.pending[info.mid] = (name, start)
        with _lock:
            _stats["broadcasts_sent" if broadcast else "alerts_sent"] += 1


@events.test_stop.add_listener
def _summary(environment, **_kwargs):
    subscribers = _stats["subscribers"]
    sent_alerts, got_alerts = _stats["alerts_sent"], _stats["alerts_received"]
    sent_broadcasts, got_broadcasts = _stats["broadcasts_sent"], _stats["broadcasts_received"]
    print(
        f"fan-out summary (run {RUN_ID}, publish via {PUBLISH_VIA}): {subscribers} subscribers; "
        f"per-device alerts {got_alerts}/{sent_alerts} delivered; "
        f"broadcasts {sent_broadcasts} sent, {got_broadcasts} deliveries"
        + (f" (expected up to {sent_broadcasts * subscribers})" if BROADCAST_TOPIC else ""),
        flush=True,
    )
