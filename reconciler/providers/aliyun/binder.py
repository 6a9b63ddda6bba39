"""Binder on IMS (alibabacloud-ice20201109): re-point listed running AI agent instances at a voice.

No public API reads or edits an AI agent, its workflow or the workflow's TTS node. A binding takes effect
through (1) the agent config voicectl publishes in its state (`voicectl agent-config AGENT_ID`), which
session-start code passes to StartAIAgentInstance / GenerateAIAgentCall, and (2) UpdateAIAgentInstance on
the running instances a binding lists. So bind/unbind call nothing beyond those instances.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.errors import AuthError, ProviderError
from reconciler.model import BindingSpec, LiveBinding, StateDoc
from reconciler.naming import binding_address
from reconciler.providers.aliyun.errors import TransportFailure, missing_credentials, redact
from reconciler.providers.aliyun.oss import AK_ID, AK_SECRET, STS_TOKEN
from reconciler.providers.aliyun.ratelimit import RetryPolicy

log = logging.getLogger("voicectl.aliyun")

API_VERSION = "2020-11-09"
_AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidSecurityToken.Expired",
        "InvalidSecurityToken.Malformed",
        "InvalidSecurityToken.MismatchWithAccessKey",
        "Forbidden.RAM",
        "Forbidden",
        "NoPermission",
    }
)


def parse_endpoint(value: str) -> tuple[str, str]:
    """`http://127.0.0.1:8002` -> ("http", "127.0.0.1:8002"); a bare host means HTTPS."""
    if "://" in value:
        scheme, rest = value.split("://", 1)
        return scheme.lower(), rest.strip("/")
    return "https", value.strip("/")


# An instance that ended cannot be updated and no longer matters: new sessions use the published config.
# Only these instance-level codes mean that. Anything else that reads "not found" is about the request, not
# the instance (InvalidAction.NotFound: the API is not there; InvalidRegionId.NotFound: wrong region), and
# skipping it would report every listed instance as re-pointed when none was.
_GONE_CODES = frozenset(
    {
        "InvalidInstanceId.NotFound",
        "InvalidInstance.NotFound",
        "InstanceNotFound",
        "Forbidden.InstanceNotExecuting",
    }
)
_ENDED_STATUSES = frozenset({"Finished", "Stopped", "Failed", "Ended"})


def _gone(exc: ProviderError) -> bool:
    """The instance does not exist (any more) or has ended. Never true for a credentials error."""
    if isinstance(exc, AuthError):
        return False
    return (exc.code or "") in _GONE_CODES


class IceBinder:
    def __init__(self, env: Mapping[str, str], *, region: str, policy: RetryPolicy | None = None) -> None:
        override = env.get("VOICECTL_ICE_ENDPOINT")
        self.protocol, self.endpoint = parse_endpoint(override) if override else ("https", f"ice.{region}.aliyuncs.com")
        self.region = region
        self.policy = policy or RetryPolicy()
        self._id = env.get(AK_ID) or None
        self._secret = env.get(AK_SECRET) or None
        self._token = env.get(STS_TOKEN) or None
        self._client: Any = None
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------------

    def _ice(self) -> Any:
        if not self._id or not self._secret:
            raise missing_credentials(AK_ID, AK_SECRET, purpose="updating IMS AI agent instances")
        with self._lock:
            if self._client is None:
                from alibabacloud_ice20201109.client import Client
                from alibabacloud_tea_openapi.utils_models import Config

                self._client = Client(
                    Config(
                        access_key_id=self._id,
                        access_key_secret=self._secret,
                        security_token=self._token,
                        endpoint=self.endpoint,
                        protocol=self.protocol,
                        region_id=self.region,
                        connect_timeout=5000,
                        read_timeout=30000,
                    )
                )
            return self._client

    def _call(self, action: str, query: dict[str, str], *, subject: str) -> dict[str, Any]:
        """One RPC action through `call_api`, retried on throttling, 5xx and transport errors."""
        client = self._ice()
        from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params
        from darabonba.runtime import RuntimeOptions

        params = Params(
            action=action,
            version=API_VERSION,
            protocol=self.protocol.upper(),
            pathname="/",
            method="POST",
            auth_type="AK",
            style="RPC",
            req_body_type="formData",
            body_type="json",
        )

        def attempt() -> dict[str, Any]:
            try:
                result = client.call_api(params, OpenApiRequest(query=dict(query)), RuntimeOptions())
            except Exception as exc:
                raise self._error(exc, action, subject) from None
            body = result.get("body") or {}
            log.debug(
                "ice %s instance=%s status=%s request_id=%s",
                action,
                subject,
                result.get("statusCode"),
                body.get("RequestId"),
            )
            return dict(body)

        return self.policy.call(attempt)

    def _error(self, exc: Exception, action: str, subject: str) -> ProviderError:
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

        if not isinstance(exc, AlibabaCloudException):
            # darabonba's UnretryableException / RetryError: the request got no answer.
            return TransportFailure(f"{action} {subject}: connection to IMS failed")
        status = int(exc.status_code or 0)
        code = str(exc.code or status)
        ref = f" (code {code}" + (f", request {exc.request_id})" if exc.request_id else ")")
        if status in (401, 403) or code in _AUTH_CODES:
            names = f"{AK_ID} / {AK_SECRET}" + (f" / {STS_TOKEN}" if self._token else "")
            return AuthError(f"{action} {subject}: IMS refused the credentials{ref}: check {names}", code=code)
        throttled = code.startswith("Throttling") or status == 429
        detail = redact(str(exc.message or ""), self._secret, self._token)
        return ProviderError(
            f"{action} {subject}: {detail or 'HTTP ' + str(status)}{ref}",
            code=code if code != "None" else str(status),
            retryable=throttled or status >= 500,
        )

    # -- Binder port --------------------------------------------------------------------------------

    def bind(self, *, agent: str, node: str, voice_id: str, instances: tuple[str, ...]) -> None:
        # Only TtsConfig.VoiceId: the typed UpdateAIAgentInstanceRequest also sends empty lists
        # (PronunciationRules, BackChannelingConfigs) that a merging server would apply.
        config = json.dumps({"TtsConfig": {"VoiceId": voice_id}}, separators=(",", ":"))
        for instance in instances:
            try:
                self._call("UpdateAIAgentInstance", {"InstanceId": instance, "AgentConfig": config}, subject=instance)
            except ProviderError as exc:
                if not _gone(exc):
                    raise
                # An ended instance is gone with its voice; new sessions use the published agent config.
                log.debug("ice UpdateAIAgentInstance instance=%s gone, skipped", instance)

    def unbind(self, *, agent: str, node: str, instances: tuple[str, ...]) -> None:
        # No instance call can clear a voice: AgentConfig.TtsConfig.VoiceId can be set, not unset, and an
        # empty VoiceId is not documented to mean "the workflow default". Running instances keep their
        # voice until they end; new sessions stop getting it once the published agent config drops it.
        return None

    def read_bindings(self, targets: Iterable[BindingSpec], state: StateDoc) -> list[LiveBinding]:
        targets = list(targets)
        by_address = {t.address: t for t in targets}
        live: list[LiveBinding] = []
        for address, record in sorted(state.bindings.items()):
            target = by_address.get(address)
            drifted = self._drifted(target.instances, record.voice_id) if target else ()
            live.append(LiveBinding(record.agent, record.node, record.voice_id, drifted))
        for target in targets:
            if binding_address(target.agent, target.node) not in state.bindings:
                # Never bound by voicectl: the node speaks with its console default, which no API reads.
                live.append(LiveBinding(target.agent, target.node, None))
        return live

    def _drifted(self, instances: tuple[str, ...], voice_id: str) -> tuple[str, ...]:
        drifted = []
        for instance in instances:
            try:
                body = self._call("DescribeAIAgentInstance", {"InstanceId": instance}, subject=instance)
            except ProviderError as exc:
                if _gone(exc):
                    continue  # ended: nothing to re-point, so not drift
                raise
            instance_body = body.get("Instance")
            if not instance_body or instance_body.get("Status") in _ENDED_STATUSES:
                continue
            if self._voice_of(body) != voice_id:
                drifted.append(instance)
        return tuple(drifted)

    @staticmethod
    def _voice_of(body: dict[str, Any]) -> str | None:
        config: Any = (body.get("Instance") or {}).get("AgentConfig")
        if isinstance(config, str):
            try:
                config = json.loads(config)
            except ValueError:
                return None
        if not isinstance(config, dict):
            return None
        tts = config.get("TtsConfig") or {}
        return tts.get("VoiceId") if isinstance(tts, dict) else None

    def close(self) -> None:
        self._client = None
