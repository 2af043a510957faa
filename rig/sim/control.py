"""The running sim's control hook: fault injection and state over HTTP on 127.0.0.1.

    GET  /faults   the injectable faults, their arguments and what they do
    GET  /state    the twins' and the world's state now (JSON)
    POST /inject   {"fault": NAME, "args": {...}}  -> 200 {"ok": true} | 400 {"error": ...}

Loopback only: it is a test and engineering tool, not a way into a rig from the network.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rig.sim.inject import INJECTIONS, InjectionError, inject


def sim_state(sim) -> dict[str, Any]:
    with sim.lock:
        world, vfd = sim.world, sim.vfd.state
        return {
            "world_t_s": world.t_s, "belt_mps": world.belt_speed_mps, "line_force_n": world.line_force_n,
            "deck_forces_n": list(world.deck_forces_n), "winch_position_m": world.winch_position_m,
            "belt_drive": {"output_hz": vfd.output_hz, "fault_code": vfd.fault_code,
                           "warning_code": vfd.warning_code, "run_command": vfd.run_command},
            "safety_chain_closed": sim.safety_io.chain_closed, "harness_brake_engaged": world.harness.brake_engaged,
            "truth_events": len(world.truth), "physics_steps": sim.physics.steps,
            "physics_overruns": sim.physics.overruns,
        }


class _Handler(BaseHTTPRequestHandler):
    sim: Any = None

    def log_message(self, *args: object) -> None:  # quiet: the sim's console is for the operator
        return

    def _reply(self, status: int, body: dict | list) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/faults":
            self._reply(200, {name: {"doc": i.doc, "args": dict(i.args)} for name, i in INJECTIONS.items()})
        elif self.path == "/state":
            self._reply(200, sim_state(self.sim))
        else:
            self._reply(404, {"error": "use GET /faults, GET /state or POST /inject"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/inject":
            self._reply(404, {"error": "use POST /inject"})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            inject(self.sim, str(body.get("fault", "")), **dict(body.get("args", {})))
        except (InjectionError, ValueError, TypeError) as exc:
            self._reply(400, {"error": str(exc)})
            return
        self._reply(200, {"ok": True})


class ControlServer:
    """HTTP control hook in a daemon thread."""

    def __init__(self, sim, port: int):
        handler = type("Handler", (_Handler,), {"sim": sim})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="sim-control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
