"""The `rig` command line (DESIGN.md section 7): a stable interface for people and scripts.

Each subcommand is a small function here that loads the config and hands over to the module
that does the work. Exit codes: 0 success, 1 a problem the user can fix (bad config, fault),
2 wrong usage.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Callable

from rig.config import RigConfig, load_config, show_config
from rig.configspec import ConfigError

DEFAULT_CONFIG = "configs/sim.toml"
SIM_SWITCH_INTERVAL_S = 0.0005
log = logging.getLogger("rig")


def _load(path: str) -> RigConfig | None:
    """Load and check a config, bus budget included; print every problem and return None if any."""
    from drivers.budget import budget_issues
    from rig.configspec import ConfigIssue

    try:
        config = load_config(path)
        issues = [ConfigIssue(path, sect, "", message) for sect, message in budget_issues(config)]
        if issues:
            raise ConfigError(issues)
        return config
    except ConfigError as exc:
        print(f"{len(exc.issues)} error(s) in the configuration:", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return None


def cmd_config(args: argparse.Namespace) -> int:
    config = _load(args.file)
    if config is None:
        return 1
    if args.action == "show":
        print(show_config(config), end="")
    else:
        from drivers.budget import bus_loads

        for load in bus_loads(config):
            print(load.describe())
        print(f"{args.file}: OK")
    return 0


def cmd_faults(args: argparse.Namespace) -> int:
    from safety.faults import CATALOGUE

    entries = [CATALOGUE[code] for code in sorted(CATALOGUE)]
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    for e in entries:
        print(f"{e.code}  {e.name}  [{e.severity.value}]\n     {e.message}\n     What to do: {e.recovery}")
    return 0


def _install_stop_signals(request_stop: Callable[[], None]) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.warning("%s received: stopping the belt", signal.Signals(signum).name)
        request_stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def cmd_run(args: argparse.Namespace) -> int:
    from rig.app import RigApp, build_devices
    from rig.clock import MonotonicClock
    from rig.console import StatusPrinter, status_line
    from rig.recorder import RecorderError
    from rig.script import load_script
    from rig.sdnotify import Notifier
    from rig.services import LoopServices
    from rig.simproc import SimStartError, sim_process

    config = _load(args.config)
    if config is None:
        return 1
    try:
        steps = load_script(args.script, config) if args.script else None
    except ConfigError as exc:
        print("\n".join(["the session script was refused:"] + [f"  {i}" for i in exc.issues]), file=sys.stderr)
        return 1
    try:
        with sim_process(config, args.config, record=_sim_recording(args.record)):
            clock = MonotonicClock()
            devices = build_devices(config, clock)
            services = LoopServices(config.loop, Notifier.from_env())
            services.prepare()  # slow: before connecting arms the drives' comm watchdogs
            refusal = _refuse_start(devices.connect())
            try:
                recorder = None if refusal else _recorder(args)
            except RecorderError as exc:
                refusal = f"the session cannot be recorded: {exc}"
            if refusal:
                print(refusal, file=sys.stderr)
                devices.close()
                return 1
            app = RigApp(config, devices, clock, steps, recorder=recorder)
            _install_stop_signals(app.request_stop)
            start_s = app.clock.now()
            printer = StatusPrinter(config.loop.status_period_s, lambda: status_line(
                app.supervisor.snapshot, app.loop.stats().period_err_p99_ms, start_s))
            print(f"rig '{config.name}' running{' script ' + args.script if args.script else ''}; Ctrl-C stops the belt")
            printer.start()
            try:
                with services:
                    code = app.run(services.after_tick)
            finally:
                printer.stop()
                devices.close()
                if recorder is not None:
                    print(f"recording: {args.record} ({recorder.close()})")
        _print_end(app, start_s)
        _print_replay_hint(args.record, config.sim.enabled)
        return code
    except SimStartError as exc:
        print(f"the simulated rig did not start: {exc}", file=sys.stderr)
        return 1


def _sim_recording(record: str | None) -> str | None:
    """`session.csv.gz` -> `session.sim.csv.gz`: the simulated world's own recording and truth."""
    if not record:
        return None
    for suffix in (".csv.gz", ".csv"):
        if record.endswith(suffix):
            return record[: -len(suffix)] + ".sim" + suffix
    return record + ".sim.csv"


def _print_replay_hint(record: str | None, sim: bool) -> None:
    if not record:
        return
    from rig.sim.world_record import truth_path_for
    events = record.split(".csv")[0] + ".events-replayed.csv"
    truth = f" --truth {truth_path_for(_sim_recording(record))}" if sim else ""
    print(f"replay it: rig replay {record} --events-out {events}{truth}")


def _refuse_start(failures: list) -> str:
    """Every device that did not connect, with its fault report; "" when all did."""
    from rig.console import fault_report
    if not failures:
        return ""
    return "\n".join([fault_report(exc.code, exc.detail) for exc in failures]
                     + ["The rig did not start: every device must answer first."])


def _recorder(args: argparse.Namespace):
    if not getattr(args, "record", None):
        return None
    from rig.recorder import SessionRecorder
    return SessionRecorder(args.record).start()


def _print_end(app, start_s: float) -> None:
    from rig.console import fault_report, status_line

    snap = app.supervisor.snapshot
    print(status_line(snap, app.loop.stats().period_err_p99_ms, start_s))
    for active in snap.faults:
        print(fault_report(active.code, active.detail))
    stats = app.loop.stats()
    print(f"loop: {stats.ticks} ticks, overruns {stats.overruns}, period error p50 {stats.period_err_p50_ms:.3f} ms "
          f"p99 {stats.period_err_p99_ms:.3f} ms max {stats.period_err_max_ms:.3f} ms")
    if app.script is not None:
        print(app.script.failure or "script finished")


def cmd_sim(args: argparse.Namespace) -> int:
    import threading

    from rig.sim.control import ControlServer
    from rig.sim.runner import SimRig
    from rig.sim.world_record import Recorder

    config = _load(args.config)
    if config is None:
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # The twins stand in for hardware with its own processors: the board's 1 kHz stream and the
    # drives' answers must not wait 5 ms (Python's default) for the GIL behind the physics thread.
    sys.setswitchinterval(SIM_SWITCH_INTERVAL_S)
    sim = SimRig(config)
    sim.recorder = Recorder(args.record) if args.record else None
    control = ControlServer(sim, config.sim.control_port)
    with sim:
        control.start()
        if not args.quiet:
            for endpoint in sim.endpoints:
                print(f"sim: {endpoint.name} twin on Modbus TCP {endpoint.host}:{endpoint.port} unit {endpoint.unit}")
            print(f"sim: fault injection on http://127.0.0.1:{config.sim.control_port} (rig inject --help)", flush=True)
        stop.wait()
        control.stop()
    if sim.recorder is not None:
        recording, truth = sim.recorder.write(sim.world.truth)
        print(f"sim: recorded {recording} and {truth}")
    if not args.quiet:
        print(f"sim: {sim.physics.steps} physics steps, {sim.physics.overruns} overruns", flush=True)
    return 0


def cmd_inject(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    config = _load(args.config)
    if config is None:
        return 1
    pairs = [item.split("=", 1) for item in args.args]
    if any(len(pair) != 2 for pair in pairs):
        print("arguments are key=value, e.g. device=belt", file=sys.stderr)
        return 2
    body = json.dumps({"fault": args.fault, "args": dict(pairs)}).encode()
    url = f"http://127.0.0.1:{config.sim.control_port}/inject"
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            print(json.loads(response.read())["ok"] and f"injected {args.fault}")
        return 0
    except urllib.error.HTTPError as exc:
        print(f"refused: {json.loads(exc.read())['error']}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"no simulated rig answers on {url}: {exc.reason}", file=sys.stderr)
        return 1


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    try:
        module = importlib.import_module(f"bench.{args.name}")
    except ModuleNotFoundError:
        print(f"no benchmark named {args.name!r}", file=sys.stderr)
        return 2
    return int(module.main(args) or 0)


def cmd_replay(args: argparse.Namespace) -> int:
    from rig import replay

    return int(replay.main(args.rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rig", description="Body-weight-supported treadmill rig controller")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the rig (the default config starts the simulated rig too)")
    run.add_argument("--config", default=DEFAULT_CONFIG)
    run.add_argument("--script", help="run a session script (TOML) unattended")
    run.add_argument("--record", help="record the session's calibrated stream (DESIGN.md 6) to this CSV (.gz allowed)")
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser("sim", help="run only the simulated devices on their endpoints")
    sim.add_argument("--config", default=DEFAULT_CONFIG)
    sim.add_argument("--quiet", action="store_true")
    sim.add_argument("--record", help="write the world's stream (DESIGN.md 6) and NAME.truth.csv on exit")
    sim.set_defaults(func=cmd_sim)

    inj = sub.add_parser("inject", help="inject a fault into the running simulated rig")
    inj.add_argument("fault", help="fault name (GET /faults on the sim's control port lists them)")
    inj.add_argument("args", nargs="*", help="key=value arguments, e.g. device=belt")
    inj.add_argument("--config", default=DEFAULT_CONFIG)
    inj.set_defaults(func=cmd_inject)

    config = sub.add_parser("config", help="check or show a config file")
    config.add_argument("action", choices=("check", "show"))
    config.add_argument("file")
    config.set_defaults(func=cmd_config)

    faults = sub.add_parser("faults", help="the fault catalogue")
    faults.add_argument("--json", action="store_true")
    faults.set_defaults(func=cmd_faults)

    bench = sub.add_parser("bench", help="benchmarks (loop, ...); --json prints a JSON object last")
    bench.add_argument("name")
    bench.add_argument("--config", default=DEFAULT_CONFIG)
    bench.add_argument("--seconds", type=float, default=20.0)
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--only", default="", help="faults: comma-separated row names to run")
    bench.add_argument("--doc", help="faults: write the matrix as Markdown to this file")
    bench.add_argument("--falls", type=int, default=50, help="fall: number of simulated falls")
    bench.set_defaults(func=cmd_bench)

    if Path(__file__).with_name("replay.py").exists():
        replay = sub.add_parser("replay", help="run a recording through the gait pipeline", add_help=False)
        replay.add_argument("rest", nargs=argparse.REMAINDER)
        replay.set_defaults(func=cmd_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)  # its per-callback chatter is not news
    return args.func(args)
