"""The emulator's account state and its control API (what tests drive and assert on)."""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tests.emulator._http import _Server, start_server
from tests.emulator._rules import AccountRules
from tests.emulator._state import (
    BEIJING,
    COSYVOICE_MODELS,
    FAULTS,
    QWEN_MODELS,
    SERVICE_TZ,
    SERVICES,
    Call,
    Fault,
    _Bucket,
    _Fault,
    _Instance,
    _ReviewFailRule,
    _Voice,
    cosyvoice_prefix,
)
from tests.emulator._synthesis import SynthesisRules

__all__ = ["BEIJING", "COSYVOICE_MODELS", "QWEN_MODELS", "Call", "Emulator", "Fault"]


class Emulator(AccountRules, SynthesisRules):
    """A loopback emulation of DashScope voice enrollment, OSS and ICE, for one in-memory account.

    Each service listens on its own 127.0.0.1 port (ephemeral unless given). `latency`, `review_delay`,
    `rate_limit` and `voice_limit` may be changed at any time; `review_delay` applies to reviews started
    afterwards. Faults come from `inject`, review outcomes from `fail_review`, and every request lands in
    `calls` with the action's parsed parameters (DashScope: the `input` plus `model`; OSS: bucket, key, query,
    x-oss-*/content-* headers, size, presigned; ICE: the RPC parameters with JSON struct parameters parsed).

    Regions: DashScope listens once per region in `regions` (the home `region` always), each with its own
    voices; a key works only in the region it belongs to (`api_key` in the home region, `api_keys` maps more
    keys to regions), elsewhere it gets 401 InvalidApiKey. `workspaces` maps workspace ids to the key that
    owns them: an `X-DashScope-WorkSpace` header naming another key's workspace gets 403 Workspace.AccessDenied.
    Buckets are in the home region unless `bucket_regions` says otherwise; V4 signatures must name it.
    """

    def __init__(
        self,
        api_key: str = "sk-test",
        access_key_id: str = "LTAItest",
        access_key_secret: str = "secret-test",
        buckets: tuple[str, ...] | list[str] = ("voices",),
        region: str = "cn-beijing",
        review_delay: float = 0.5,
        latency: float = 0.0,
        rate_limit: int | None = 10,
        voice_limit: int = 1000,
        *,
        regions: tuple[str, ...] = (),
        api_keys: dict[str, str] | None = None,
        workspaces: dict[str, str] | None = None,
        bucket_regions: dict[str, str] | None = None,
        qwen_rate_limit: int | None = 180,
        synthesis_rate: int | None = 10,
        max_page_size: int = 50,
        dashscope_port: int = 0,
        oss_port: int = 0,
        ice_port: int = 0,
        security_token: str | None = None,
        verbose: bool = False,
    ) -> None:
        # Seconds added to OSS's clock (Date, Last-Modified): the lock lease is judged by the service's clock.
        self.oss_clock_offset = 0.0
        self.api_key = api_key
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token
        self.region = region
        self.regions = (region, *[r for r in regions if r != region])
        self.api_keys = {api_key: region, **(api_keys or {})}
        self.workspaces = dict(workspaces or {})
        self.review_delay = review_delay
        self.latency = latency
        # CosyVoice requests per second (over it: Throttling.RateQuota); None turns every enrollment limit off.
        self.rate_limit = rate_limit
        # qwen-voice-enrollment requests per minute, also enforced per second as RPM/60 (Throttling.BurstRate).
        self.qwen_rate_limit = qwen_rate_limit
        # The service may serve fewer voices per page than asked for: a short page is not the end of a list.
        self.max_page_size = max_page_size
        self.denied_models: set[str] = set()  # targets the account may not use: 403 Model.AccessDenied
        self.denied_oss_actions: set[str] = set()  # OSS actions the RAM policy lacks: 403 AccessDenied
        self._qwen_fallbacks: deque[str] = deque()
        self.voice_limit = voice_limit
        self.verbose = verbose
        self.public_acl_attempts = 0
        self.lock = threading.RLock()
        self._ports = {"dashscope": dashscope_port, "oss": oss_port, "ice": ice_port}
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._fail_rules: list[_ReviewFailRule] = []
        self._admitted: dict[str, deque[float]] = {"cosyvoice": deque(), "qwen": deque()}
        self._seq = 0
        self._voices: dict[str, _Voice] = {}
        regions_of = bucket_regions or {}
        self._buckets: dict[str, _Bucket] = {name: _Bucket(name, regions_of.get(name, region)) for name in buckets}
        for name, bucket_region in regions_of.items():
            self._buckets.setdefault(name, _Bucket(name, bucket_region))
        self._instances: dict[str, _Instance] = {}
        self._speech: Any = None  # the synthesis WebSocket server (tests/emulator/speech.py), once started
        self._init_synthesis(synthesis_rate)

    # ---------------------------------------------------------------------------------------- lifecycle

    def start(self) -> Emulator:
        from tests.emulator.dashscope import DashScopeService
        from tests.emulator.ice import IceService
        from tests.emulator.oss import OssService

        if self._servers:
            return self
        services: dict[str, Any] = {
            "dashscope": DashScopeService(self),
            "oss": OssService(self),
            "ice": IceService(self),
        }
        for other in self.regions[1:]:
            services[f"dashscope@{other}"] = DashScopeService(self, other)
        for name, service in services.items():
            server, thread = start_server("127.0.0.1", self._ports.get(name, 0), service, self)
            self._servers[name] = server
            self._threads.append(thread)
        from tests.emulator.speech import SpeechServer

        self._speech = SpeechServer(self)
        self._speech.start()
        return self

    def stop(self) -> None:
        speech = getattr(self, "_speech", None)
        if speech is not None:
            speech.stop()
            self._speech = None
        for server in self._servers.values():
            server.shutdown()
            server.close_open_connections()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def port(self, service: str) -> int:
        if service not in self._servers:
            raise RuntimeError("emulator not started")
        return self._servers[service].server_address[1]

    @property
    def dashscope_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port('dashscope')}/api/v1"

    def dashscope_base_url_for(self, region: str) -> str:
        """The base URL of the DashScope listener of `region` (one of `regions`)."""
        name = "dashscope" if region == self.region else f"dashscope@{region}"
        return f"http://127.0.0.1:{self.port(name)}/api/v1"

    @property
    def oss_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port('oss')}"

    @property
    def ice_endpoint(self) -> str:
        return f"127.0.0.1:{self.port('ice')}"

    def env(self) -> dict[str, str]:
        env = {
            "DASHSCOPE_API_KEY": self.api_key,
            "DASHSCOPE_HTTP_BASE_URL": self.dashscope_base_url,
            "VOICECTL_OSS_ENDPOINT": self.oss_endpoint,
            # With the scheme: without it an adapter would default to HTTPS, which the emulator does not speak.
            "VOICECTL_ICE_ENDPOINT": f"http://{self.ice_endpoint}",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": self.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": self.access_key_secret,
        }
        if self.security_token:
            env["ALIBABA_CLOUD_SECURITY_TOKEN"] = self.security_token
        if getattr(self, "_speech", None) is not None:
            env["DASHSCOPE_WEBSOCKET_BASE_URL"] = f"ws://127.0.0.1:{self._speech.port}/api-ws/v1/inference"
        return env

    # ---------------------------------------------------------------------------------------- faults

    def inject(self, service: str, action: str, fault: Fault, times: int = 1, after: int = 0) -> None:
        """Make the `times` matching calls that follow the next `after` ones fail with `fault`.

        `("error", status, code, message)` answers with that error in the service's own format, for codes
        that no emulated state produces by itself (an "audio preprocess" InternalError, a token quota)."""
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}, expected one of {SERVICES}")
        if times < 1 or after < 0:
            raise ValueError("times must be >= 1 and after >= 0")
        if isinstance(fault, tuple) and fault and fault[0] == "error":
            if len(fault) != 4 or not isinstance(fault[1], int) or not fault[2]:
                raise ValueError(f"bad fault {fault!r}: expected ('error', status, code, message)")
            entry = _Fault(service, action, "error", 0.0, times, after, (fault[1], str(fault[2]), str(fault[3])))
        elif isinstance(fault, tuple):
            if len(fault) != 2 or fault[0] != "latency" or float(fault[1]) < 0:
                raise ValueError(f"bad fault {fault!r}: expected ('latency', seconds)")
            entry = _Fault(service, action, "latency", float(fault[1]), times, after)
        elif fault in FAULTS:
            entry = _Fault(service, action, fault, 0.0, times, after)
        else:
            raise ValueError(f"unknown fault {fault!r}, expected one of {FAULTS} or ('latency', seconds)")
        with self.lock:
            self._faults.append(entry)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _take_fault(self, service: str, action: str) -> tuple[float, str | None, tuple[int, str, str] | None]:
        """(added latency, fault kind, error) for this call; latency faults stack, one other fault applies."""
        delay, kind, error = 0.0, None, None
        with self.lock:
            for f in self._faults:
                if f.service != service or f.action not in ("*", action) or f.times <= 0:
                    continue
                if f.after > 0:
                    f.after -= 1  # every matching call counts toward `after`, faulted or not
                    continue
                if f.kind == "latency":
                    f.times -= 1
                    delay += f.seconds
                elif kind is None:
                    f.times -= 1
                    kind, error = f.kind, f.error
                # else: this call already fails; the rule waits for a later one
            self._faults = [f for f in self._faults if f.times > 0]
        return delay, kind, error

    # ---------------------------------------------------------------------------------------- recording

    def _record(
        self, service: str, action: str, params: dict[str, Any], status: int, at: float, fault: str | None
    ) -> None:
        with self.lock:
            self._calls.append(Call(service, action, params, status, at, fault))

    @property
    def calls(self) -> list[Call]:
        with self.lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        with self.lock:
            self._calls.clear()

    def count(self, service: str, action: str | None = None) -> int:
        with self.lock:
            return sum(1 for c in self._calls if c.service == service and action in (None, c.action))

    # ---------------------------------------------------------------------------------------- voices

    def _next_seq(self) -> int:
        with self.lock:
            self._seq += 1
            return self._seq

    def _start_review(self, voice: _Voice, reasons: list[str]) -> None:
        """A create or update puts the voice (back) under review; call with the lock held."""
        voice.ready_at = time.monotonic() + self.review_delay
        voice.review_reasons = list(reasons)
        voice.review_fails = bool(reasons)
        for rule in self._fail_rules:
            if voice.voice_id not in rule.spent_on and rule.match(voice.voice_id):
                voice.review_fails = True
                voice.review_reasons.append("failed by fail_review()")
                rule.spent_on.add(voice.voice_id)
        self._fail_rules = [r for r in self._fail_rules if not (r.single and r.spent_on)]

    def fail_review(self, voice_id_or_predicate: str | Callable[[str], bool]) -> None:
        """The next review of each matching voice (one under review now, or the next create/update) fails."""
        if isinstance(voice_id_or_predicate, str):
            target = voice_id_or_predicate
            rule = _ReviewFailRule(lambda vid: vid == target, single=True)
        else:
            rule = _ReviewFailRule(voice_id_or_predicate, single=False)
        now = time.monotonic()
        with self.lock:
            for voice in self._voices.values():
                if voice.family == "cosyvoice" and voice.status(now) == "DEPLOYING" and rule.match(voice.voice_id):
                    voice.review_fails = True
                    voice.review_reasons.append("failed by fail_review()")
                    rule.spent_on.add(voice.voice_id)
            if not (rule.single and rule.spent_on):
                self._fail_rules.append(rule)

    def add_voice(
        self,
        voice_id: str,
        model: str,
        status: str = "OK",
        resource_link: str | None = None,
        *,
        language: str | None = None,
        gmt_create: datetime | None = None,
        region: str | None = None,
    ) -> None:
        """Seed a voice as if it had been cloned earlier (e.g. an unmanaged one)."""
        if model not in COSYVOICE_MODELS + QWEN_MODELS:
            raise ValueError(f"unknown model {model!r}")
        if status not in ("OK", "DEPLOYING", "UNDEPLOYED"):
            raise ValueError(f"unknown status {status!r}")
        family = "qwen" if model in QWEN_MODELS else "cosyvoice"
        created = gmt_create or datetime.now(SERVICE_TZ)
        preferred = None
        if family == "qwen" and voice_id.startswith("qwen-tts-vc-") and "-voice-" in voice_id:
            preferred = voice_id[len("qwen-tts-vc-") : voice_id.rindex("-voice-")]
        voice = _Voice(
            voice_id=voice_id,
            family=family,
            target_model=model,
            prefix=cosyvoice_prefix(voice_id) if family == "cosyvoice" else None,
            preferred_name=preferred,
            resource_link=resource_link,
            language=language,
            created=created,
            modified=created,
            seq=self._next_seq(),
            region=region or self.region,
        )
        with self.lock:
            if status == "DEPLOYING":
                self._start_review(voice, [])
            else:
                voice.review_fails = status == "UNDEPLOYED"
            self._voices[voice_id] = voice

    def remove_voice(self, voice_id: str) -> None:
        """The service deleting a voice by itself (unused for a year): drift. KeyError when absent."""
        with self.lock:
            del self._voices[voice_id]

    def voices(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self.lock:
            return [
                {
                    "voice_id": v.voice_id,
                    "family": v.family,
                    "target_model": v.target_model,
                    "status": v.status(now),
                    "resource_link": v.resource_link,
                    "prefix": v.prefix,
                    "preferred_name": v.preferred_name,
                    "language": v.language,
                    "gmt_create": v.created.strftime("%Y-%m-%d %H:%M:%S"),
                    "gmt_modified": v.modified.strftime("%Y-%m-%d %H:%M:%S"),
                    "review_reasons": list(v.review_reasons),
                    "region": v.region,
                }
                for v in self._voices.values()
            ]

    # ---------------------------------------------------------------------------------------- OSS

    def buckets(self) -> list[str]:
        with self.lock:
            return list(self._buckets)

    def create_bucket(self, name: str, region: str | None = None) -> None:
        with self.lock:
            self._buckets.setdefault(name, _Bucket(name, region or self.region))

    def objects(self, bucket: str) -> dict[str, bytes]:
        with self.lock:
            return {key: obj.data for key, obj in self._buckets[bucket].objects.items()}

    def object_info(self, bucket: str, key: str) -> dict[str, Any]:
        """Stored metadata of one object: content_type, meta (x-oss-meta-* without the prefix), etag, crc64, acl."""
        with self.lock:
            obj = self._buckets[bucket].objects[key]
            return {
                "content_type": obj.content_type,
                "meta": dict(obj.meta),
                "etag": obj.etag,
                "crc64": obj.crc64,
                "acl": obj.acl,
                "size": len(obj.data),
            }

    def set_versioning(self, bucket: str, status: str) -> None:
        if status not in ("Enabled", "Suspended"):
            raise ValueError("versioning status is 'Enabled' or 'Suspended' (it cannot go back to never-enabled)")
        with self.lock:
            self._buckets[bucket].versioning = status

    # ---------------------------------------------------------------------------------------- ICE

    def add_instance(self, instance_id: str, agent_id: str, agent_config: dict[str, Any]) -> None:
        with self.lock:
            self._instances[instance_id] = _Instance(instance_id, agent_id, copy.deepcopy(agent_config))

    def instance(self, instance_id: str) -> dict[str, Any]:
        with self.lock:
            inst = self._instances[instance_id]
            return {
                "InstanceId": inst.instance_id,
                "AIAgentId": inst.agent_id,
                "Status": inst.status,
                "AgentConfig": copy.deepcopy(inst.agent_config),
                "TemplateConfig": copy.deepcopy(inst.template_config),
                "RuntimeConfig": copy.deepcopy(inst.runtime_config),
                "UserData": inst.user_data,
                "SessionId": inst.session_id,
            }

    def instances(self) -> list[str]:
        with self.lock:
            return list(self._instances)
