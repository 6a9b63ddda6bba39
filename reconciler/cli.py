"""The `voicectl` command line: parse options, call one function of the core, hand the result to a view,
choose the exit code. Every command goes through `command()`, which sets up logging and turns voicectl's
errors into their message and exit code, so the bodies below only say what the command does.

Heavy modules (the planner, providers, cloud SDKs, PyAV, Rich) are imported inside the commands that need
them, so `voicectl --help` and `voicectl validate` start fast.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from rich.console import Console
    from typer._click import Context, HelpFormatter

    from reconciler.errors import Problem
    from reconciler.model import Desired
    from reconciler.operations import ApplyOutcome
    from reconciler.plan.plan import Plan, PlanOptions


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

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's main, but a usage error (unknown option, missing argument) exits 1, not click's 2: with
        --detailed-exitcode, 2 means "changes pending", and CI must never read a typo as that."""
        run = functools.partial(
            super().main, args, prog_name, complete_var, windows_expand_args=windows_expand_args, **extra
        )
        if not standalone_mode:
            return run(standalone_mode=False)
        from typer._click.exceptions import ClickException, UsageError
        from typer.exceptions import Abort

        try:
            code = run(standalone_mode=False)
        except UsageError as e:
            e.show()
            sys.exit(1)
        except ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except Abort:
            sys.stderr.write("Aborted.\n")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


# Plain (click) help rather than Typer's Rich panels: rendering those imports rich.markdown, markdown_it,
# rich.traceback and pygments, which doubled the wall time of `voicectl --help` (about 0.5 s -> 0.25 s).
_PLAIN_HELP: dict[str, Any] = {
    "rich_markup_mode": None,
    "cls": _HelpGroup,
    "context_settings": {"max_content_width": 120},
}

app = typer.Typer(
    name="voicectl",
    help="Terraform-style plan/apply for cloned TTS voices on Alibaba Cloud (DashScope, OSS, IMS AI agents).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion SHELL
    pretty_exceptions_enable=False,
    **_PLAIN_HELP,
)


def _print_version(value: bool) -> None:
    if value:
        from reconciler import __version__

        typer.echo(f"voicectl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Terraform-style plan/apply for cloned TTS voices on Alibaba Cloud (DashScope, OSS, IMS AI agents)."""


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
    typer.Option(
        "-f", "--file", metavar="PATH", help="Path of voices.yaml (default: ./voices.yaml, or env VOICECTL_FILE)."
    ),
]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="Plain text, no colour or bold (also: env NO_COLOR).")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="Debug logging to stderr (secrets scrubbed).")]
LockTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--lock-timeout", metavar="SECONDS", help="Seconds to wait for a held state lock before giving up.", min=0
    ),
]
AllowDeleteOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-delete",
        metavar="NAME",
        help="Lift every guard for this voice (repeatable): delete/replace it anyway.",
    ),
]
ReplaceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--replace",
        metavar="NAME",
        help="Clone this voice anew from its audio (repeatable), e.g. after a failed review; guards apply.",
    ),
]
PolicyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--policy",
        metavar="PATH",
        help="Rego policies (a .rego file or a directory; repeatable) besides account.policy: deny blocks, warn shows.",
    ),
]
NoLintOpt = Annotated[
    bool,
    typer.Option("--no-lint", help="Skip the audio quality lint (the documented format checks still run)."),
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option("--target", metavar="NAME", help="Limit the plan to this voice or binding address (repeatable)."),
]


# -- plumbing ----------------------------------------------------------------------------------------


def command(group: typer.Typer, name: str | None = None) -> Callable[[Callable[..., int | None]], Callable[..., None]]:
    """Register a command whose body returns its exit code (None: 0) and may raise VoicectlError.

    The wrapper sets up logging from the body's `verbose` option, prints a configuration error's problems
    or any other voicectl error's message (secrets scrubbed), and exits with the code."""

    def register(body: Callable[..., int | None]) -> Callable[..., None]:
        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> None:
            from reconciler.errors import ConfigError, VoicectlError
            from reconciler.logs import setup_logging

            setup_logging(bool(kwargs.get("verbose")))
            no_color = bool(kwargs.get("no_color"))
            try:
                code = body(*args, **kwargs) or 0
            except ConfigError as e:
                _print_problems(e.problems, [], no_color=no_color, stderr=True)
                n = len(e.problems)
                _err(no_color).print(f"{n} error{'s' if n != 1 else ''} in the configuration; nothing was changed.")
                raise typer.Exit(1) from None
            except VoicectlError as e:
                _fail(str(e), e.exit_code, no_color=no_color)
            except KeyboardInterrupt:
                _fail("interrupted", 130, no_color=no_color)
            raise typer.Exit(code)

        group.command(name)(run)
        return run

    return register


def _console(no_color: bool = False) -> Console:
    from reconciler.ui.console import make_console

    return make_console(no_color)


def _err(no_color: bool = False) -> Console:
    from reconciler.ui.console import make_console

    return make_console(no_color, stderr=True)


def _fail(message: str, code: int = 1, *, no_color: bool = False) -> NoReturn:
    from rich.text import Text

    from reconciler.logs import scrub

    line = Text("Error:", style="bold red")
    line.append(f" {scrub(message)}")
    _err(no_color).print(line)
    raise typer.Exit(code)


def _print_problems(errors: list[Problem], warnings: list[Problem], *, no_color: bool, stderr: bool) -> None:
    from reconciler.ui.text import problem_line

    con = _err(no_color) if stderr else _console(no_color)
    for problem in errors:
        con.print(problem_line(problem, "error"))
    for problem in warnings:
        con.print(problem_line(problem, "warning"))


def _load(file: str | None, *, read_audio: bool = True, no_color: bool = False, lint: bool = True) -> Desired:
    from reconciler.config.loader import load_desired, resolve_config_path

    desired, warnings = load_desired(resolve_config_path(file), read_audio=read_audio, lint=lint)
    _print_problems([], warnings, no_color=no_color, stderr=True)
    return desired


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _options(
    target: list[str] | None,
    refresh_only: bool,
    allow_delete: list[str] | None,
    replace: list[str] | None = None,
    policy: list[str] | None = None,
) -> PlanOptions:
    from reconciler.plan.plan import PlanOptions

    policies = tuple(os.path.abspath(p) for p in policy or ())
    return PlanOptions(tuple(target or ()), refresh_only, tuple(allow_delete or ()), tuple(replace or ()), policies)


def _render_plan(plan: Plan, fmt: Format, no_color: bool) -> None:
    if fmt is Format.json:
        from reconciler.ui.json_view import dumps, plan_json

        _out(dumps(plan_json(plan)))
    elif fmt is Format.markdown:
        from reconciler.ui.markdown import render_markdown

        _out(render_markdown(plan))
    else:
        from reconciler.ui.text import render_text

        _console(no_color).print(render_text(plan), end="")


# -- commands ----------------------------------------------------------------------------------------


@command(app)
def validate(
    file: FileOpt = None,
    format: Annotated[TextOrJson, typer.Option("--format", help="Output format.")] = TextOrJson.text,
    no_lint: NoLintOpt = False,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Check voices.yaml and every source audio offline (no credentials, no network)."""
    from reconciler.config.loader import resolve_config_path, validate_file
    from reconciler.ui.summary import plural

    path = resolve_config_path(file)
    result = validate_file(path, lint=not no_lint)
    if result.desired is not None and result.desired.account.policy:
        from reconciler.policy import compile_problems

        result.errors.extend(compile_problems(result.desired))  # account.policy must compile, offline too
    if format is TextOrJson.json:
        from reconciler.ui.json_view import dumps, validation_json

        _out(dumps(validation_json(result.errors, result.warnings)))
        return 0 if result.valid else 1
    _print_problems(result.errors, result.warnings, no_color=no_color, stderr=False)
    con = _console(no_color)
    if result.valid and result.desired:
        d = result.desired  # valid: no error, the policies' included
        warnings = f", {plural(len(result.warnings), 'warning')}" if result.warnings else ""
        con.print(
            f"{path} is valid: {plural(len(d.voices), 'voice')}, {plural(len(d.bindings), 'binding')}{warnings}.",
            style="green",
        )
        return 0
    con.print(f"{plural(len(result.errors), 'error')} in {path}.", style="bold red")
    return 1


@command(app)
def lint(
    names: Annotated[
        list[str] | None, typer.Argument(metavar="NAME", help="Voices to lint (default: every voice).")
    ] = None,
    file: FileOpt = None,
    format: Annotated[TextOrJson, typer.Option("--format", help="Output format.")] = TextOrJson.text,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Measure each voice's source audio (speech, pauses, SNR, clipping, loudness) and predict review failures.
    Exit 1 when a voice has a lint error."""
    from reconciler.audio.voices_lint import lint_voices
    from reconciler.config.loader import resolve_config_path, validate_file
    from reconciler.errors import ConfigError

    result = validate_file(resolve_config_path(file), check_audio=False)
    if result.desired is None:
        raise ConfigError(result.errors)
    rows = lint_voices(result.desired, names)
    if format is TextOrJson.json:
        from reconciler.ui.json_view import dumps
        from reconciler.ui.lint_view import lint_json

        _out(dumps(lint_json(rows)))
    else:
        from reconciler.ui.lint_view import lint_text

        _console(no_color).print(lint_text(rows), end="")
    return 1 if any(r["errors"] for r in rows) else 0


@command(app)
def plan(
    file: FileOpt = None,
    format: Annotated[Format, typer.Option("--format", help="text, markdown (PR comment) or json.")] = Format.text,
    out: Annotated[
        str | None, typer.Option("--out", metavar="PLANFILE", help="Save the plan to PLANFILE for `apply PLANFILE`.")
    ] = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0: no changes, 2: changes, 3: blocked, 1: error.")
    ] = False,
    target: TargetOpt = None,
    refresh_only: Annotated[
        bool, typer.Option("--refresh-only", help="Only reconcile the state with the account (drift).")
    ] = False,
    allow_delete: AllowDeleteOpt = None,
    replace: ReplaceOpt = None,
    policy: PolicyOpt = None,
    no_lint: NoLintOpt = False,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Show what apply would do. Reads the state and the account; writes nothing, takes no lock."""
    from reconciler import operations
    from reconciler.audio.cache import read_only

    with read_only():  # the lint cache too: plan writes nothing anywhere
        desired = _load(file, no_color=no_color, lint=not no_lint)
    result = operations.plan(desired, _options(target, refresh_only, allow_delete, replace, policy))
    if out:
        operations.write_planfile(out, result, desired)
    _render_plan(result, format, no_color)
    if out and format is Format.text:
        _err(no_color).print(f"Saved the plan to {out}; apply it with: voicectl apply {out}")
    if result.is_blocked:
        return 3
    return 2 if detailed_exitcode and result.has_changes else 0


@command(app)
def drift(
    file: FileOpt = None,
    format: Annotated[Format, typer.Option("--format", help="text, markdown (an issue body) or json.")] = Format.text,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Exit 0: the account matches and every declared voice is usable; 2: drift, changes pending, or "
            "a declared voice that failed review or vanished; 3: blocked; 1: error.",
        ),
    ] = False,
    no_lint: NoLintOpt = False,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Check the account against voices.yaml for a scheduled job: the plan, with the voices that cannot be used
    (failed review, vanished) above the summary. Reads only, like plan."""
    from reconciler import operations
    from reconciler.audio.cache import read_only

    with read_only():
        desired = _load(file, no_color=no_color, lint=not no_lint)
    result = operations.plan(desired, _options(None, False, None))
    _render_plan(result, format, no_color)
    if result.is_blocked:
        return 3
    drifted = result.has_changes or bool(result.drift)
    return 2 if detailed_exitcode and drifted else 0


@command(app)
def apply(
    planfile: Annotated[str | None, typer.Argument(metavar="PLANFILE", help="A plan saved with `plan --out`.")] = None,
    file: FileOpt = None,
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Do not ask; required when stdin is not a terminal.")
    ] = False,
    parallelism: Annotated[
        int, typer.Option("--parallelism", metavar="N", help="Steps run at once.", min=1, max=64)
    ] = 10,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the review of new voices.")] = True,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", help="Seconds to wait for reviews.", min=0)
    ] = 900.0,
    allow_delete: AllowDeleteOpt = None,
    replace: ReplaceOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    target: TargetOpt = None,
    expect_fingerprint: Annotated[
        str | None,
        typer.Option(
            "--expect-fingerprint", metavar="FINGERPRINT", help="Refuse unless every input is as when planned."
        ),
    ] = None,
    expect_changes: Annotated[
        str | None,
        typer.Option(
            "--expect-changes",
            metavar="DIGEST",
            help="Apply only if the plan made now has this changes_digest (the change set a reviewer approved).",
        ),
    ] = None,
    approved_plan: Annotated[
        str | None,
        typer.Option(
            "--approved-plan",
            metavar="FILE",
            help="The approved plan (plan file or plan JSON): names what differs when the changes are not as approved.",
        ),
    ] = None,
    report: Annotated[
        str | None, typer.Option("--report", metavar="FILE", help="Write a markdown report of the apply here.")
    ] = None,
    audition_dir: Annotated[
        str | None,
        typer.Option(
            "--audition",
            metavar="DIR",
            help="Write DIR/NAME.wav, speech of every voice this apply created or updated, once it passed review.",
        ),
    ] = None,
    format: Annotated[
        TextOrJson, typer.Option("--format", help="text, or json: the plan and its report as one document.")
    ] = TextOrJson.text,
    policy: PolicyOpt = None,
    no_lint: NoLintOpt = False,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Carry out the plan: upload audio, clone, wait for review, rebind agents, delete what is gone."""
    from reconciler import operations
    from reconciler.apply.executor import RunSettings
    from reconciler.ui.progress import ApplyProgress
    from reconciler.ui.text import render_report_text, render_text

    desired = _load(file, no_color=no_color, lint=not no_lint)
    as_json = format is TextOrJson.json
    # With --format json, stdout holds the one JSON document; the plan and progress for people go to stderr.
    con = _err(no_color) if as_json else _console(no_color)
    confirm: Callable[[Plan], bool] | None = None
    options, expected, expect_changes, approved = _approval(
        planfile,
        _options(target, False, allow_delete, replace, policy),
        expect_fingerprint,
        expect_changes,
        approved_plan,
    )
    if not planfile and not auto_approve:
        if not sys.stdin.isatty():
            _fail("apply needs --auto-approve when stdin is not a terminal (or a plan file from `plan --out`)")
        confirm = functools.partial(_confirm_apply, err=as_json)

    with ApplyProgress(_err(no_color)) as progress:

        def show_plan(p: Plan) -> None:
            con.print(render_text(p), end="")
            progress.plan_ready(p)

        request = operations.ApplyRequest(
            options,
            expected,
            lock_timeout,
            RunSettings(parallelism=parallelism, wait=wait, timeout=timeout),
            expect_changes=expect_changes,
            approved=approved,
        )
        outcome = operations.apply(desired, request, confirm=confirm, progress=progress, on_plan=show_plan)
    if as_json:
        from reconciler.ui.json_view import apply_json, dumps

        _out(dumps(apply_json(outcome.plan, outcome.report, cancelled=outcome.cancelled)))
    if outcome.cancelled:
        con.print("Apply cancelled; nothing was changed.")
        return 1
    if outcome.report is None:
        return 0
    if not as_json:
        con.print(render_report_text(outcome.report), end="")
    _after_apply(desired, outcome, report, audition_dir, con)
    return 0 if outcome.report.ok else 1


def _after_apply(
    desired: Desired, outcome: ApplyOutcome, report: str | None, audition_dir: str | None, con: Console
) -> None:
    """The apply's markdown report (--report) and the samples of the voices it cloned (--audition)."""
    from reconciler import operations

    if report and outcome.report is not None:
        from reconciler.ui.markdown import render_report_markdown

        with open(report, "w", encoding="utf-8") as f:
            f.write(render_report_markdown(outcome.report, outcome.plan))
    if audition_dir:
        for heard in operations.audition_applied(desired, outcome.plan, audition_dir):
            con.print(heard.line(), highlight=False)


def _approval(
    planfile: str | None,
    options: PlanOptions,
    expect_fingerprint: str | None,
    expect_changes: str | None,
    approved_plan: str | None,
) -> tuple[PlanOptions, str | None, str | None, Plan | None]:
    """What apply must match: a saved plan's options and fingerprint (every input), or the options given,
    an optional fingerprint and an optional approved change digest, with the plan it came from if given.
    Returns (options, fingerprint, changes digest, approved plan)."""
    from reconciler import operations

    approved = operations.read_approved_plan(approved_plan) if approved_plan else None
    if approved is not None:
        if expect_changes is None:
            expect_changes = approved.changes_digest
        elif expect_changes != approved.changes_digest:
            _fail(
                f"--approved-plan {approved_plan} has changes_digest {approved.changes_digest}, not the "
                f"--expect-changes {expect_changes}: pass the plan that digest came from"
            )
    if not planfile:
        return options, expect_fingerprint, expect_changes, approved
    if expect_changes:
        _fail("a plan file is its own approval: give either PLANFILE or --expect-changes, not both")
    saved = operations.read_planfile(planfile)
    return saved.options, saved.fingerprint, None, saved


def _confirm_apply(plan: Plan, *, err: bool = False) -> bool:
    answer = typer.prompt("\nDo you want to perform these actions? Only 'yes' will be accepted", default="", err=err)
    return str(answer).strip() == "yes"


@command(app)
def show(
    planfile: Annotated[str, typer.Argument(metavar="PLANFILE", help="A plan saved with `plan --out`.")],
    format: Annotated[Format, typer.Option("--format", help="text, markdown or json.")] = Format.text,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Print a saved plan."""
    from reconciler import operations

    _render_plan(operations.read_planfile(planfile), format, no_color)


@command(app, "import")
def import_(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Voice name declared in voices.yaml.")],
    voice_id: Annotated[str, typer.Argument(metavar="VOICE_ID", help="Id of the existing voice in the account.")],
    file: FileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    verbose: VerboseOpt = False,
) -> None:
    """Adopt an existing voice under NAME (state only); its declared audio is taken as its source."""
    from reconciler import operations

    record = operations.import_voice(_load(file), name, voice_id, lock_timeout=lock_timeout)
    _out(f"Imported {record.voice_id} as voice.{name} ({record.status}).")


@command(state_app, "list")
def state_list(
    file: FileOpt = None,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text (one line each) or json.")] = TextOrJson.text,
    verbose: VerboseOpt = False,
) -> None:
    """List what the state tracks: voices, bindings, deposed voices, and the voices `state rm` forgot."""
    from reconciler import operations
    from reconciler.ui.json_view import dumps, state_json
    from reconciler.ui.tables import state_lines

    doc = operations.read_state(_load(file, read_audio=False))
    if fmt == TextOrJson.json:
        _out(dumps(state_json(doc)).rstrip("\n"))
        return
    for line in state_lines(doc):
        _out(line)


@command(state_app, "rm")
def state_rm(
    names: Annotated[list[str], typer.Argument(metavar="NAME", help="Voice names or addresses to forget.")],
    file: FileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    verbose: VerboseOpt = False,
) -> None:
    """Forget voices or bindings in the state; the account is not touched."""
    from reconciler import operations

    for forgotten in operations.state_rm(_load(file, read_audio=False), names, lock_timeout=lock_timeout):
        if forgotten.voice_id is None:
            _out(f"Removed {forgotten.address} from the state; the agent's TTS node is not touched.")
            continue
        _out(
            f"Removed {forgotten.address} from the state. Its voice {forgotten.voice_id} stays in the account, "
            "unmanaged: counted in the quota, never changed or deleted by voicectl, even if you remove it from "
            f"voices.yaml. `voicectl import {forgotten.address.removeprefix('voice.')} {forgotten.voice_id}` "
            "manages it again."
        )


@command(state_app, "mv")
def state_mv(
    old: Annotated[str, typer.Argument(metavar="OLD", help="Current name in the state.")],
    new: Annotated[str, typer.Argument(metavar="NEW", help="New name.")],
    file: FileOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    verbose: VerboseOpt = False,
) -> None:
    """Rename a voice in the state; the account is not touched."""
    from reconciler import operations

    moved = operations.state_mv(_load(file, read_audio=False), old, new, lock_timeout=lock_timeout)
    _out(f"Moved {moved[0]} to {moved[1]}.")


@command(app, "force-unlock")
def force_unlock(
    lock_id: Annotated[str, typer.Argument(metavar="LOCK_ID", help="The id printed with the lock.")],
    file: FileOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Do not ask for confirmation.")] = False,
    verbose: VerboseOpt = False,
) -> int:
    """Remove a stale state lock left by a run that died."""
    from reconciler import operations

    desired = _load(file, read_audio=False)
    # Checked before asking: confirming the removal of a lock that is not there would be a question for nothing.
    held = operations.current_lock(desired)
    if held is None:
        _fail(f"the state is not locked: there is no lock {lock_id} to remove")
    if held.id != lock_id:
        _fail(f"the state is locked by {held.id}, not {lock_id}: {held.describe()}. Check the id and try again")
    if not force:
        if not sys.stdin.isatty():
            _fail("force-unlock asks for confirmation on a terminal; pass --force to skip it")
        _out(f"Lock: {held.describe()}")
        if not typer.confirm("Remove this lock? Another run that still holds it would lose its protection"):
            return 1
    removed = operations.force_unlock(desired, lock_id)
    _out(f"Removed the lock {removed.id} ({removed.operation} by {removed.who} since {removed.created}).")
    return 0


@command(app)
def voices(
    file: FileOpt = None,
    search: Annotated[str | None, typer.Option("--search", metavar="TEXT", help="Filter by name or voice id.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include unmanaged voices.")] = False,
    format: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = TextOrJson.text,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """List live voices like the console's list page: name, id, model, status, managed or not."""
    from reconciler import operations

    rows = operations.list_voices(_load(file, read_audio=False), search=search, include_all=all_)
    if format is TextOrJson.json:
        from reconciler.ui.json_view import dumps

        _out(dumps(rows))
        return
    from reconciler.ui.tables import voices_lines, voices_table

    con = _console(no_color)
    if not rows:
        con.print("No voices.")
    elif sys.stdout.isatty():
        con.print(voices_table(rows))
    else:  # a pipe or a CI log: ids are never cut to a terminal's width
        _out("\n".join(voices_lines(rows)))


class AudioFormat(StrEnum):
    wav = "wav"
    mp3 = "mp3"


@command(app)
def audition(
    name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="A voice declared in voices.yaml, cloned and OK.")
    ] = None,
    all_dir: Annotated[
        str | None,
        typer.Option("--all", metavar="DIR", help="Every declared voice: DIR/NAME.wav and DIR/auditions.json."),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option(
            "--text", metavar="TEXT", help="What the voice says (default: its audition_text, or by language)."
        ),
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", metavar="FILE", help="Where to write the audio (default NAME.wav).")
    ] = None,
    fmt: Annotated[AudioFormat, typer.Option("--format", help="wav or mp3.")] = AudioFormat.wav,
    file: FileOpt = None,
    verbose: VerboseOpt = False,
) -> int:
    """Hear a cloned voice: synthesize speech with it, write the audio, and print its duration and lint metrics.
    Exits 1 when what came back is silence or noise (a failed clone, whatever its review said)."""
    from reconciler import operations
    from reconciler.ui.lint_view import metrics_line

    if (name is None) == (all_dir is None):
        _fail("audition: give a voice NAME, or --all DIR for every declared voice (not both)")
    if all_dir is not None:
        if out is not None or fmt is not AudioFormat.wav:
            _fail("audition --all writes DIR/NAME.wav: --out and --format are for one NAME")
        batch = operations.audition_all(_load(file, read_audio=False), all_dir, text=text)
        for one in batch:
            _out(one.line())
        _out(f"Wrote {len([h for h in batch if h.audition])} of {len(batch)} samples and "
             f"{os.path.join(all_dir, operations.AUDITION_INDEX)}.")  # fmt: skip
        return 0 if all(h.ok for h in batch) else 1
    assert name is not None
    sample = operations.audition(_load(file, read_audio=False), name, text=text, out=out, fmt=fmt.value)
    _out(f"Wrote {sample.path}: {sample.seconds:.1f} s.")
    if sample.metrics:
        _out(f"Lint metrics: {metrics_line(sample.metrics)}")
    if sample.simulated:
        _out(f"Note: {sample.simulated}")
    if not sample.voice_heard:
        _fail(
            f"no voice in what voice.{name} said (silence or noise came back): the clone has failed even though "
            f"its review passed. Give it new audio, or clone it anew: voicectl apply --replace {name}"
        )
    return 0


class StacksFormat(StrEnum):
    text = "text"
    json = "json"
    github_matrix = "github-matrix"


@command(app)
def stacks(
    changed_since: Annotated[
        str | None,
        typer.Option(
            "--changed-since", metavar="REF", help="Only the stacks whose voices.yaml or audio changed since git REF."
        ),
    ] = None,
    fmt: Annotated[StacksFormat, typer.Option("--format", help="text, json or github-matrix.")] = StacksFormat.text,
    root: Annotated[
        str | None,
        typer.Option("--root", metavar="DIR", help="The repository (default: where voicectl-stacks.yaml is, or here)."),
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--stack", metavar="NAME", help="Only this stack (repeatable).")
    ] = None,
    verbose: VerboseOpt = False,
) -> int:
    """List the repository's stacks (voicectl-stacks.yaml, stacks/*/voices.yaml, or one voices.yaml), for a CI
    matrix: --format github-matrix prints what strategy.matrix takes through fromJSON."""
    from reconciler import operations
    from reconciler.ui.stacks_view import github_matrix, stacks_json, stacks_text

    found, listed = operations.list_stacks(root, changed_since, only=tuple(only or ()))
    if fmt is StacksFormat.github_matrix:
        try:
            _out(github_matrix(listed))
        except ValueError as e:
            _fail(str(e))
    elif fmt is StacksFormat.json:
        _out(stacks_json(found, listed, changed_since))
    else:
        _out(stacks_text(found, listed, changed_since))
    return 0


@command(app)
def doctor(
    file: FileOpt = None,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = TextOrJson.text,
    verbose: VerboseOpt = False,
) -> int:
    """Check the credentials and permissions plan and apply need, read-only; names what is missing.
    Exit 1 when a check fails."""
    from reconciler import operations

    checks = operations.doctor(_load(file, read_audio=False))
    if fmt is TextOrJson.json:
        from reconciler.ui.json_view import dumps

        _out(dumps([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks]))
    else:
        for c in checks:
            _out(f"{'ok  ' if c.ok else 'FAIL' if c.ok is False else 'skip'}  {c.name}: {c.detail}")
    failed = sum(c.ok is False for c in checks)
    if fmt is TextOrJson.text:
        _out(f"{failed} check{'s' if failed != 1 else ''} failed." if failed else "Every check passed.")
    return 1 if failed else 0


@command(app, "agent-config")
def agent_config(
    agent_id: Annotated[str, typer.Argument(metavar="AGENT_ID", help="IMS AIAgentId.")],
    file: FileOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Print the AgentConfig JSON (TtsConfig.VoiceId) for StartAIAgentInstance / GenerateAIAgentCall."""
    import json

    from reconciler import operations

    doc = operations.read_state(_load(file, read_audio=False))
    _out(json.dumps(operations.agent_config(doc, agent_id), separators=(",", ":")))


@command(app)
def schema() -> None:
    """Print the JSON Schema of voices.yaml."""
    from reconciler.config.schema import schema_json

    _out(schema_json())


@command(app)
def init(file: FileOpt = None, verbose: VerboseOpt = False) -> None:
    """Write a starter voices.yaml and a generated sample audio; never overwrites a file."""
    from reconciler.config.starter import write_starter

    for written in write_starter(file or "voices.yaml"):
        _out(f"Wrote {written}")
    _out("Next: voicectl validate && voicectl plan && voicectl apply --auto-approve")


def main() -> None:  # pragma: no cover - console script shim
    app(prog_name="voicectl")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("COLUMNS", "120")
    main()
