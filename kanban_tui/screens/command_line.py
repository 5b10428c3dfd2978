"""`:` — the CLI's verbs typed inside the board, without the program name.

The line is split like a shell would (shlex) and handed, in a thread, to the app's `run_verb`
(the CLI's `run`, handed in by the entry point: the board never imports the CLI), against the
app's home and database. That run's output is captured for its thread alone and its stdin is
empty. The output, or the one-line error and exit code, comes back as a notification.
"""

from __future__ import annotations

import shlex
from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from kanban_tui.text import block

# Verbs that would follow forever or take over the terminal, and where to go instead.
REFUSED_VERBS = {
    "tail": "follows forever: press t in the board for the task's live tail",
    "watch": "follows forever: press T in the board for the live event tail",
    "mcp": "runs a stdio server that would take over this terminal: run it from a shell",
    "demo": "opens another board: run it from a shell",
}
NOTIFY_LINES = 15

# argv (after the program name) -> (exit code, stdout, stderr)
VerbRunner = Callable[[list[str]], tuple[int, str, str]]


def refusal(argv: list[str]) -> str | None:
    """Why this command cannot run inside the board, or None when it can."""
    if not argv:
        return "type a verb and its arguments, e.g. block t_ab12 waiting for creds"
    if "--dispatch-only" in argv:
        return "--dispatch-only runs a headless dispatcher: run it from a shell"
    if "--host-id" in argv:
        return "--host-id would rename this board's host: run it from a shell"
    verb = argv[0]
    if verb.startswith("-") and verb not in ("-h", "--help"):
        return f"start with a verb (got {verb!r}); :--help lists them"
    if verb in REFUSED_VERBS:
        return f"{verb} {REFUSED_VERBS[verb]}"
    return None


def _clipped(text: str) -> str:
    lines = block(text).rstrip("\n").splitlines()
    if len(lines) <= NOTIFY_LINES:
        return "\n".join(lines)
    return "\n".join([*lines[:NOTIFY_LINES], f"… {len(lines) - NOTIFY_LINES} more lines"])


class CommandLine(ModalScreen[int | None]):
    """Dismisses the command's exit code, or None when nothing ran."""

    DEFAULT_CSS = """
    CommandLine {
        background: transparent;
        align-vertical: bottom;
    }
    CommandLine > Vertical {
        height: auto;
        background: $panel;
    }
    CommandLine Horizontal {
        height: 1;
    }
    CommandLine #command-prompt {
        width: 1;
        text-style: bold;
    }
    CommandLine #command-message {
        color: $text-error;
        display: none;
    }
    CommandLine #command-message.-shown {
        display: block;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="command.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="command-message")
            with Horizontal():
                yield Static(":", id="command-prompt")
                yield Input(placeholder="verb args…  e.g. unblock t_ab12   (esc cancels)",
                            id="command-input", compact=True)

    def _say(self, message: str | None) -> None:
        widget = self.query_one("#command-message", Static)
        widget.update(Text(message or ""))
        widget.set_class(bool(message), "-shown")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            argv = shlex.split(event.value.strip().removeprefix(":"))
        except ValueError as exc:
            self._say(f"cannot parse: {exc}")
            return
        if argv and argv[0] == "kanban-tui":
            argv = argv[1:]
        problem = refusal(argv)
        if problem:
            self._say(problem)
            return
        run_verb: VerbRunner | None = getattr(self.app, "run_verb", None)
        if run_verb is None:
            self._say("no command line here: this board was opened without the CLI")
            return
        self._say(None)
        event.input.disabled = True
        paths = self.app.gateway.paths
        full = ["--home", str(paths.home), "--db", str(paths.db), *argv]
        self.run_worker(lambda: run_verb(full), name=argv[0], exclusive=True, thread=True, exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.state is WorkerState.ERROR:
            self.notify(f"{worker.name}: {worker.error}", severity="error", markup=False)
            self.dismiss(None)
        elif worker.state is WorkerState.SUCCESS:
            code, out, err = worker.result
            if code == 0:
                self.notify(_clipped(out + err) or f"{worker.name}: done", title=f":{worker.name}",
                            markup=False)
            else:
                error = block(err).strip().splitlines()[-1:] or [f"{worker.name} failed"]
                self.notify(f"{error[0]} (exit {code})", title=f":{worker.name}", severity="error",
                            markup=False)
            self.dismiss(code)

    def action_cancel(self) -> None:
        self.dismiss(None)
