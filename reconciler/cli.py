"""The `voicectl` command line: parse options, call one function of the core, render, choose the exit code.

Heavy modules (the planner, providers, cloud SDKs, PyAV) are imported inside the commands that need them, so
`voicectl --help` and `voicectl validate` start fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from rich.console import Console
    from typer._click import Context, HelpFormatter

    from reconciler.model import Desired
    from reconciler.plan.plan import Plan


class _HelpGroup(TyperGroup):
    """Click's plain help, listing each command with its whole first paragraph (plain click cuts it at the
    first sentence or ~45 characters)."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.short_help or " ".join((cmd.help or "").split("\n\n")[0].split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# Plain (click) help rather than Typer's Rich panels: rendering those imports rich.markdown, markdown_it,
# rich.traceback and pygments, which doubled the wall time of `voicectl --help` (about 0.5 s -> 0.25 s).
# Command output still uses Rich where it helps (colours, tables), imported by the commands that print.
_PLAIN_HELP: dict[str, Any] = {
    "rich_markup_mode": None,
    "cls": _HelpGroup,
    "context_settings": {"max_content_width": 120},
}

app = typer.Typer(
    name="voicectl",
    help="Terraform-style plan/apply for cloned TTS voices on Alibaba Cloud (DashScope, OSS, IMS AI agents).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    **_PLAIN_HELP,
)
state_app = typer.Typer(help="Inspect and edit the state (never the account).", no_args_is_help=True, **_PLAIN_HELP)
app.add_typer(state_app, name="state")


class Format(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


class TextOrJson(StrEnum):
    text = "text"
    json = "json"


FileOpt = Annotated[
    str | None,
    typer.Option("-f", "--file", help="Path of voices.yaml (default: ./voices.yaml, or env VOICECTL_FILE)."),
]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="Plain output even on a terminal.")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="Debug logging to stderr (secrets scrubbed).")]
LockTimeoutOpt = Annotated[
    float, typer.Option("--lock-timeout", help="Seconds to wait for a held state lock before giving up.", min=0)
]
AllowDeleteOpt = Annotated[
    list[str] | None,
    typer.Option("--allow-delete", help="Lift every guard for this voice (repeatable): delete/replace it anyway."),
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option("--target", help="Limit the plan to this voice or binding address (repeatable)."),
]


# -- plumbing ----------------------------------------------------------------------------------------


def _console(no_color: bool = False, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, no_color=no_color, highlight=False, soft_wrap=True)


def _setup(verbose: bool) -> None:
    from reconciler.logs import setup_logging

    setup_logging(verbose)


def _escape(text: str) -> str:
    """User text and guard names in brackets ("[quota]") would otherwise be eaten as Rich markup."""
    from rich.markup import escape

    return escape(text)


def _fail(message: str, code: int = 1) -> NoReturn:
    from reconciler.logs import scrub

    _console(stderr=True).print(f"[bold red]Error:[/] {_escape(scrub(message))}", markup=True)
    raise typer.Exit(code)


def _guard(fn: Callable[[], int | None]) -> None:
    """Run a command body; turn voicectl errors into a message and their exit code."""
    from reconciler.errors import ConfigError, VoicectlError

    try:
        code = fn() or 0
    except ConfigError as e:
        err = _console(stderr=True)
        for p in e.problems:
            err.print(f"{_escape(p.where())}: [red]error:[/] {_escape(p.message)}", markup=True, highlight=False)
        err.print(
            f"{len(e.problems)} error{'s' if len(e.problems) != 1 else ''} in the configuration; nothing was changed."
        )
        raise typer.Exit(1) from None
    except VoicectlError as e:
        _fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    raise typer.Exit(code)


def _load(file: str | None, *, read_audio: bool = True) -> Desired:
    from reconciler.config.loader import load_desired, resolve_config_path

    desired, warnings = load_desired(resolve_config_path(file), read_audio=read_audio)
    err = _console(stderr=True)
    for w in warnings:
        err.print(f"{_escape(w.file)}:{w.line}:{w.column}: [yellow]warning:[/] {_escape(w.message)}", markup=True)
    return desired


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _render_plan(plan: Plan, fmt: Format, no_color: bool) -> None:
    from reconciler.ui import render

    if fmt is Format.json:
        _out(plan.to_json_text())
    elif fmt is Format.markdown:
        _out(render.render_markdown(plan))
    else:
        _console(no_color).print(render.render_text(plan), end="")


# -- commands ----------------------------------------------------------------------------------------


@app.command()
def validate(
    file: FileOpt = None,
    format: Annotated[TextOrJson, typer.Option("--format", help="Output format.")] = TextOrJson.text,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Check voices.yaml and every source audio offline (no credentials, no network)."""
    _setup(verbose)
    from reconciler.config.loader import resolve_config_path, validate_file

    path = resolve_config_path(file)
    result = validate_file(path)
    if format is TextOrJson.json:
        _out(json.dumps(result.to_json(), indent=2))
    else:
        con = _console(no_color)
        for p in result.errors:
            con.print(
                f"{_escape(p.file)}:{p.line or 1}:{p.column or 1}: [red]error:[/] {_escape(p.message)}", markup=True
            )
        for p in result.warnings:
            con.print(
                f"{_escape(p.file)}:{p.line or 1}:{p.column or 1}: [yellow]warning:[/] {_escape(p.message)}",
                markup=True,
            )
        if result.valid and result.desired:
            d = result.desired
            con.print(
                f"{path} is valid: {len(d.voices)} voice{'s' if len(d.voices) != 1 else ''}, "
                f"{len(d.bindings)} binding{'s' if len(d.bindings) != 1 else ''}"
                + (f", {len(result.warnings)} warning(s)." if result.warnings else "."),
                style="green",
            )
        else:
            con.print(f"{len(result.errors)} error(s) in {path}.", style="bold red")
    raise typer.Exit(0 if result.valid else 1)


@app.command()
def plan(
    file: FileOpt = None,
    format: Annotated[Format, typer.Option("--format", help="text, markdown (PR comment) or json.")] = Format.text,
    out: Annotated[str | None, typer.Option("--out", help="Save the plan to PLANFILE for `apply PLANFILE`.")] = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0: no changes, 2: changes, 3: blocked, 1: error.")
    ] = False,
    target: TargetOpt = None,
    refresh_only: Annotated[
        bool, typer.Option("--refresh-only", help="Only reconcile the state with the account (drift).")
    ] = False,
    allow_delete: AllowDeleteOpt = None,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Show what apply would do. Reads the state and the account; writes nothing, takes no lock."""
    _setup(verbose)

    def run() -> int:
        from reconciler import operations
        from reconciler.plan.planner import PlanOptions

        desired = _load(file)
        options = PlanOptions(tuple(target or ()), refresh_only, tuple(allow_delete or ()))
        result = operations.plan(desired, options)
        if out:
            operations.write_planfile(out, result, desired)
        _render_plan(result, format, no_color)
        if out and format is Format.text:
            _console(no_color, stderr=True).print(f"Saved the plan to {out}; apply it with: voicectl apply {out}")
        if result.is_blocked:
            return 3
        return 2 if detailed_exitcode and result.has_changes else 0

    _guard(run)


@app.command()
def apply(
    planfile: Annotated[str | None, typer.Argument(help="A plan saved with `plan --out`.")] = None,
    file: FileOpt = None,
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Do not ask; required when stdin is not a terminal.")
    ] = False,
    parallelism: Annotated[int, typer.Option("--parallelism", help="Steps run at once.", min=1, max=64)] = 10,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the review of new voices.")] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for reviews.", min=0)] = 900.0,
    allow_delete: AllowDeleteOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    target: TargetOpt = None,
    expect_fingerprint: Annotated[
        str | None, typer.Option("--expect-fingerprint", help="Refuse unless the plan has this fingerprint.")
    ] = None,
    report: Annotated[str | None, typer.Option("--report", help="Write a markdown report of the apply here.")] = None,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Carry out the plan: upload audio, clone, wait for review, rebind agents, delete what is gone."""
    _setup(verbose)

    def run() -> int:
        from reconciler import operations
        from reconciler.plan.planner import PlanOptions
        from reconciler.ui import render

        desired = _load(file)
        con = _console(no_color)
        if planfile:
            saved = operations.read_planfile(planfile)
            options, expected, confirm = operations.options_of(saved), saved.fingerprint, None
        else:
            options = PlanOptions(tuple(target or ()), False, tuple(allow_delete or ()))
            expected, confirm = expect_fingerprint, None
            if not auto_approve:
                if not sys.stdin.isatty():
                    _fail("apply needs --auto-approve when stdin is not a terminal (or a plan file from `plan --out`)")
                confirm = _confirm_apply
        from reconciler.ui.progress import ApplyProgress

        def show_plan(p: Plan) -> None:
            con.print(render.render_text(p), end="")
            progress.plan_ready(p)

        with ApplyProgress(_console(no_color, stderr=True)) as progress:
            outcome = operations.apply(
                desired,
                options,
                expect_fingerprint=expected,
                confirm=confirm,
                parallelism=parallelism,
                wait=wait,
                timeout=timeout,
                lock_timeout=lock_timeout,
                progress=progress,
                on_plan=show_plan,
            )
        if outcome.cancelled:
            con.print("Apply cancelled; nothing was changed.")
            return 1
        if outcome.report is None:
            return 0
        con.print(render.render_report_text(outcome.report), end="")
        if report:
            with open(report, "w", encoding="utf-8") as f:
                f.write(render.render_report_markdown(outcome.report, outcome.plan))
        return 0 if outcome.report.ok else 1

    _guard(run)


def _confirm_apply(plan: Plan) -> bool:
    answer = typer.prompt("\nDo you want to perform these actions? Only 'yes' will be accepted", default="")
    return answer.strip() == "yes"


@app.command()
def show(
    planfile: Annotated[str, typer.Argument(help="A plan saved with `plan --out`.")],
    format: Annotated[Format, typer.Option("--format", help="text, markdown or json.")] = Format.text,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Print a saved plan."""
    _setup(verbose)

    def run() -> int:
        from reconciler import operations

        _render_plan(operations.read_planfile(planfile), format, no_color)
        return 0

    _guard(run)


@app.command("import")
def import_(
    name: Annotated[str, typer.Argument(help="Voice name declared in voices.yaml.")],
    voice_id: Annotated[str, typer.Argument(help="Id of the existing voice in the account.")],
    file: FileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    verbose: VerboseOpt = False,
) -> None:
    """Adopt an existing voice under NAME (state only); its declared audio is taken as its source."""
    _setup(verbose)

    def run() -> int:
        from reconciler import operations

        record = operations.import_voice(_load(file), name, voice_id, lock_timeout=lock_timeout)
        _console().print(f"Imported {record.voice_id} as voice.{name} ({record.status}).")
        return 0

    _guard(run)


@state_app.command("list")
def state_list(file: FileOpt = None, verbose: VerboseOpt = False) -> None:
    """List what the state tracks."""
    _setup(verbose)

    def run() -> int:
        from reconciler import operations

        doc = operations.read_state(_load(file, read_audio=False))
        for name, r in sorted(doc.voices.items()):
            _out(f"voice.{name}\t{r.voice_id}\t{r.model}\t{r.status}")
        for address, b in sorted(doc.bindings.items()):
            _out(f"{address}\t{b.voice}\t{b.voice_id}")
        for voice_id, r in sorted(doc.deposed.items()):
            _out(f"voice.{r.name} (deposed)\t{voice_id}\t{r.model}\t{r.status}")
        return 0

    _guard(run)


@state_app.command("rm")
def state_rm(
    names: Annotated[list[str], typer.Argument(help="Voice names or addresses to forget.")],
    file: FileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    verbose: VerboseOpt = False,
) -> None:
    """Forget voices or bindings in the state; the account is not touched."""
    _setup(verbose)

    def run() -> int:
        from reconciler import operations

        for address in operations.state_rm(_load(file, read_audio=False), names, lock_timeout=lock_timeout):
            _out(f"Removed {address} from the state.")
        return 0

    _guard(run)


@state_app.command("mv")
def state_mv(
    old: Annotated[str, typer.Argument(help="Current name in the state.")],
    new: Annotated[str, typer.Argument(help="New name.")],
    file: FileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    verbose: VerboseOpt = False,
) -> None:
    """Rename a voice in the state; the account is not touched."""
    _setup(verbose)

    def run() -> int:
        from reconciler import operations

        operations.state_mv(_load(file, read_audio=False), old, new, lock_timeout=lock_timeout)
        _out(f"Moved voice.{old.removeprefix('voice.')} to voice.{new.removeprefix('voice.')}.")
        return 0

    _guard(run)


@app.command("force-unlock")
def force_unlock(
    lock_id: Annotated[str, typer.Argument(help="The id printed with the lock.")],
    file: FileOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Do not ask for confirmation.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Remove a stale state lock left by a run that died."""
    _setup(verbose)

    def run() -> int:
        from reconciler import operations

        desired = _load(file, read_audio=False)
        if not force:
            if not sys.stdin.isatty():
                _fail("force-unlock asks for confirmation on a terminal; pass --force to skip it")
            held = operations.current_lock(desired)
            if held is not None and held.id == lock_id:
                _console().print(f"Lock: {held.describe()}")
            if not typer.confirm("Remove this lock? Another run that still holds it would lose its protection"):
                return 1
        removed = operations.force_unlock(desired, lock_id)
        _out(f"Removed the lock {removed.id} ({removed.operation} by {removed.who} since {removed.created}).")
        return 0

    _guard(run)


@app.command()
def voices(
    file: FileOpt = None,
    search: Annotated[str | None, typer.Option("--search", help="Filter by name or voice id.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include unmanaged voices.")] = False,
    format: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = TextOrJson.text,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """List live voices like the console's list page: name, id, model, status, managed or not."""
    _setup(verbose)

    def run() -> int:
        from reconciler import operations

        rows = operations.list_voices(_load(file, read_audio=False), search=search, include_all=all_)
        if format is TextOrJson.json:
            _out(json.dumps(rows, indent=2))
            return 0
        _print_table(rows, no_color)
        return 0

    _guard(run)


def _print_table(rows: list[dict[str, Any]], no_color: bool) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("NAME", "VOICE ID", "MODEL", "STATUS", "MANAGED", "CREATED"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"] or "-",
            r["voice_id"],
            r["model"],
            r["status"],
            "yes" if r["managed"] else "no",
            r["created"] or "-",
        )
    con = _console(no_color)
    con.print(table) if rows else con.print("No voices.")


@app.command("agent-config")
def agent_config(
    agent_id: Annotated[str, typer.Argument(help="IMS AIAgentId.")],
    file: FileOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Print the AgentConfig JSON (TtsConfig.VoiceId) for StartAIAgentInstance / GenerateAIAgentCall."""
    _setup(verbose)

    def run() -> int:
        from reconciler import operations

        doc = operations.read_state(_load(file, read_audio=False))
        _out(json.dumps(operations.agent_config(doc, agent_id), separators=(",", ":")))
        return 0

    _guard(run)


@app.command()
def schema() -> None:
    """Print the JSON Schema of voices.yaml."""
    from reconciler.config.schema import schema_json

    _out(schema_json())


@app.command()
def init(
    file: FileOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Write a starter voices.yaml and a generated sample audio; never overwrites a file."""
    _setup(verbose)

    def run() -> int:
        from reconciler.config.starter import write_starter

        path = file or "voices.yaml"
        for written in write_starter(path):
            _out(f"Wrote {written}")
        _out("Next: voicectl validate && voicectl plan && voicectl apply --auto-approve")
        return 0

    _guard(run)


def main() -> None:  # pragma: no cover - console script shim
    app(prog_name="voicectl")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("COLUMNS", "120")
    main()
