"""Runs the Eclipse Paho MQTT 3.1.1 interoperability client tests against an MQTT server that
requires credentials, such as Sentinel's edge.

The suite (eclipse/paho.mqtt.testing, interoperability/client_test.py) connects without a user
name or password. This wrapper leaves its checkout untouched: it wraps the suite's client so every
CONNECT that names no user sends the client id as user name (or PAHO_ANON_USER for the
zero-length client id) and PAHO_PASSWORD, then runs the suite.

    PAHO_PASSWORD=... python3 run_client_test.py <paho.mqtt.testing checkout> <host> <port>

Without PAHO_PASSWORD nothing is added (a plain broker that allows anonymous clients).
"""

import os
import runpy
import sys
import unittest


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    checkout, host, port = sys.argv[1:]
    suite_dir = os.path.join(checkout, "interoperability")
    sys.path.insert(0, suite_dir)
    os.chdir(suite_dir)

    import mqtt.clients.V311 as client_module  # the suite's own client, from its checkout

    password = os.environ.get("PAHO_PASSWORD")
    if password:
        original_connect = client_module.Client.connect

        def connect(self, *args, username=None, **kwargs):
            if username is None:
                client_id = self.clientid.decode() if isinstance(self.clientid, bytes) else self.clientid
                username = client_id or os.environ.get("PAHO_ANON_USER", "paho-anon")
                kwargs["password"] = password.encode()
            return original_connect(self, *args, username=username, **kwargs)

        client_module.Client.connect = connect

    # The suite hands sys.argv to unittest.main(); its own options must not reach it.
    # "-h" would print the usage: the suite tests `o in ("--help")`, a substring test.
    sys.argv = ["client_test.py", f"--hostname={host}", f"--port={port}"]
    run_tests = unittest.main
    unittest.main = lambda *a, **k: run_tests(argv=["client_test.py", "-v"], exit=False)
    runpy.run_path("client_test.py", run_name="__main__")


if __name__ == "__main__":
    main()
