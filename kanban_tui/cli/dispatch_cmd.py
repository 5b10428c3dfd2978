"""`kanban-tui dispatch` (one tick) and `kanban-tui --dispatch-only` (the headless dispatcher)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from kanban_tui.cli import output
from kanban_tui.errors import Refused
from kanban_tui.kernel.dsn import redact
from kanban_tui.validate import COUNT_MAX

# --dispatch-only warns once ready work has not spawned for this many ticks in a row.
STRANDED_WARN_TICKS = 3


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "dispatch", help="run one dispatcher tick, or nudge the dispatcher that leads",
        description="Run one dispatcher tick: reclaim expired leases, record dead and overdue workers, "
                    "promote tasks whose parents are done and spawn workers for ready assigned tasks, within "
                    "the caps. When another process leads, spawn nothing and nudge it instead (it ticks at "
                    "once). For cron; the board and --dispatch-only run ticks on their own.",
        epilog="examples:\n"
               "  kanban-tui dispatch --dry-run\n"
               "  kanban-tui dispatch --max 2 --json")
    p.add_argument("--dry-run", action="store_true", help="report what a tick would do; change nothing")
    p.add_argument("--max", type=_positive, dest="max_spawn", metavar="N",
                   help="spawn at most N workers this tick (default: as many as the caps allow)")
    p.add_argument("--failure-limit", type=_positive, metavar="N",
                   help="consecutive spawn failures, crashes or timeouts before a task gives up and is "
                        "blocked (default: dispatch.failure_limit from config.yaml)")
    p.add_argument("--json", action="store_true", help="print the tick report as JSON")
    p.set_defaults(handler=dispatch)


def register_options(parser) -> None:
    parser.add_argument("--dispatch-only", dest="handler", action="store_const", const=dispatch_only,
                        help="run the dispatcher headless (no board); SIGINT/SIGTERM stop it, "
                             "leaving workers running for the next dispatcher to adopt")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if not 1 <= value <= COUNT_MAX:
        raise argparse.ArgumentTypeError(f"expected a positive integer up to {COUNT_MAX}, got {text!r}")
    return value


# ---------------------------------------------------------------- one tick

def dispatch(args, session) -> int:
    from kanban_tui.kernel import hosts, lease, tick
    from kanban_tui.kernel.models import local_host_id

    conn, config = session.conn, session.config
    # an operator's explicit tick: failed tasks are retried now, not at their retry times
    options = {"max_spawn": args.max_spawn, "failure_limit": args.failure_limit, "wait_for_retries": False}
    holder, host_id = hosts.local_holder(), local_host_id()
    if args.dry_run:
        report = tick.tick(conn, session.paths, config, dry_run=True, **options)
        report["leader"] = _serving(conn, host_id)
        return _print(args, report)
    registered, serving = hosts.register(conn, host_id, holder, profiles=hosts.served_profiles(config),
                                         max_workers=config.dispatch.max_workers,
                                         lease_seconds=config.dispatch.host_lease_seconds)
    if not registered:  # a dispatcher serves this host: it does the tick (nudged, like every host)
        lease.nudge(conn)
        report = {**tick.empty_report(), "leader": serving["holder"], "nudged": True}
        return _print(args, report)
    housekeeper = lease.try_acquire(conn, holder)
    try:
        report = tick.tick(conn, session.paths, config, host_id=host_id, housekeeper=housekeeper, **options)
    finally:
        hosts.release(conn, host_id, holder, live_workers=tick.live_workers(conn, host_id))
        if housekeeper:
            lease.release(conn, holder)
    return _print(args, report)


def _serving(conn, host_id: str) -> str | None:
    """The holder of the dispatcher that serves `host_id` now, if any."""
    from kanban_tui.kernel import hosts

    return next((host["holder"] for host in hosts.live(conn) if host["host_id"] == host_id), None)


def _print(args, report: dict) -> int:
    if args.json:
        output.emit_json(report)
    else:
        output.line("\n".join(_describe(report, args.dry_run)))
    return 0


_OUTCOME_LABELS = (("reclaimed", "reclaimed (lease expired)"), ("host_lost", "reclaimed (host lost)"),
                   ("crashed", "crashed"),
                   ("protocol_violations", "exited without reporting"), ("timed_out", "timed out"),
                   ("spawn_failed", "failed to spawn"), ("rate_limited", "rate limited (cooling down)"),
                   ("auto_blocked", "gave up (now blocked)"),
                   ("promoted", "promoted to ready"))


def _describe(report: dict, dry_run: bool, *, skipped: bool = True) -> list[str]:
    if report.get("nudged"):
        return [f"{output.inline(report['leader'])} leads the dispatcher: nudged it (nothing spawned here)"]
    lines = ["dry run: nothing was changed"] if dry_run else []
    lines += [f"{'would spawn' if dry_run else 'spawned'} {item['task_id']} (@{output.inline(item['assignee'])}) "
              f"in {output.inline(item['workspace'])}" for item in report["spawned"]]
    lines += [f"{label}: {' '.join(report[key])}" for key, label in _OUTCOME_LABELS if report[key]]
    if skipped and report["skipped_unassigned"]:
        lines.append(f"skipped, no assignee: {' '.join(report['skipped_unassigned'])}")
    if skipped and report["skipped_nonspawnable"]:
        lines.append(f"skipped, no profile or default_command for the assignee: "
                     f"{' '.join(report['skipped_nonspawnable'])}")
    if dry_run and report.get("leader"):
        lines.append(f"dispatcher {output.inline(report['leader'])} leads")
    return lines or ["nothing to do"]


# ---------------------------------------------------------------- headless

def dispatch_only(args, session) -> int:
    from kanban_tui.kernel.dispatcher import Dispatcher

    from kanban_tui.kernel import db, hosts
    from kanban_tui.kernel.models import local_host_id

    config = session.config  # a malformed config or unusable DB fails here: one line, exit 1
    conn = session.open()
    db.check_writable(conn, session.paths.db)
    host_id = local_host_id()
    serving = next((host for host in hosts.live(conn) if host["host_id"] == host_id), None)
    if serving is not None:
        raise Refused(f"host id {host_id!r} is already served by a live dispatcher ({serving['holder']}); "
                      "stop it, or give this one another --host-id")
    session.close()
    log = _HeadlessLog()
    runner = Dispatcher(session.paths, config, on_tick=log.tick, on_error=log.error, host_id=host_id)
    stopping = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stopping.set())
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        log.say(f"dispatcher {runner.holder} (host {host_id}) started on {redact(session.paths.db)}")
        runner.start()
        while not stopping.wait(0.2):
            log.role(runner.status())
        runner.stop()
        status = runner.status()
        log.say(f"stopped: lease released, {status['live_workers']} worker(s) left running for the next leader")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


class _HeadlessLog:
    """Timestamped lines on stderr: ticks that did work, role changes, errors, stranded work."""

    def __init__(self):
        self.leading: bool | None = None
        self.stranded_ticks = 0
        self.lock = threading.Lock()  # ticks arrive on the dispatcher's thread, role polls on main

    def say(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        sys.stderr.write(f"[{stamp}] {output.inline(message)}\n")
        sys.stderr.flush()

    def role(self, status: dict) -> None:
        leading = status["role"] == "leader"
        with self.lock:
            if leading == self.leading:
                return
            self.leading = leading
        self.say("leading: spawning workers" if leading else
                 f"observing: {status['leader'] or 'nobody'} leads; taking over when its lease lapses")

    def tick(self, report: dict) -> None:
        from kanban_tui.kernel.tick import did_work

        self.role({"role": "leader"})  # only a leader ticks; say so before its first tick's work
        if did_work(report):
            self.say("tick: " + "; ".join(_describe(report, dry_run=False, skipped=False)))
        self.warn_if_stranded(report)

    def warn_if_stranded(self, report: dict) -> None:
        stranded = report["skipped_nonspawnable"]
        if not stranded or report["spawned"]:
            self.stranded_ticks = 0
            return
        self.stranded_ticks += 1
        if self.stranded_ticks == STRANDED_WARN_TICKS:
            self.say(f"warning: {len(stranded)} ready assigned task(s) spawned nothing for "
                     f"{STRANDED_WARN_TICKS} ticks: their assignees have no profile and there is no "
                     f"default_command in config.yaml ({' '.join(stranded)})")

    def error(self, exc: BaseException) -> None:
        self.say(f"error: {exc}")
