"""ICE (IMS) AI agent instances over RPC, ACS3-HMAC-SHA256 signed as alibabacloud_tea_openapi signs them."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from tests.emulator._http import Reply, Request
from tests.emulator._state import _Instance

if TYPE_CHECKING:
    from tests.emulator.core import Emulator

VERSION = "2020-11-09"
ALGORITHM = "ACS3-HMAC-SHA256"
MAX_SKEW = 15 * 60
# Struct parameters travel as compact JSON strings; they are recorded parsed so tests compare objects.
JSON_PARAMS = ("AgentConfig", "TemplateConfig", "RuntimeConfig", "ChatSyncConfig")
ACTIONS = ("DescribeAIAgentInstance", "UpdateAIAgentInstance", "StartAIAgentInstance", "StopAIAgentInstance")


class IceError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def deep_merge(stored: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Objects merge key by key; anything else given (lists included, even empty ones) replaces."""
    merged = copy.deepcopy(stored)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class IceService:
    name = "ice"

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        self._nonces: dict[str, float] = {}

    def identify(self, req: Request) -> tuple[str, dict[str, Any]]:
        raw = dict(req.query)
        ctype = (req.header("Content-Type") or "").lower()
        if req.body and ctype.startswith("application/x-www-form-urlencoded"):
            raw.update(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        params: dict[str, Any] = {}
        for name, value in raw.items():
            if name in JSON_PARAMS:
                try:
                    params[name] = json.loads(value)
                    continue
                except ValueError:
                    pass  # kept as sent; the action rejects it
            params[name] = value
        return req.header("x-acs-action") or raw.get("Action") or "MissingAction", params

    def _json(self, status: int, payload: dict[str, Any]) -> Reply:
        return Reply(status, json.dumps(payload).encode(), [("Content-Type", "application/json;charset=utf-8")])

    def _error(self, req: Request, err: IceError) -> Reply:
        return self._json(
            err.status,
            {
                "RequestId": str(uuid.uuid4()).upper(),
                "HostId": req.header("Host") or "ice",
                "Code": err.code,
                "Message": err.message,
                "Recommend": "https://api.aliyun.com/troubleshoot",
            },
        )

    def fault_reply(
        self, req: Request, action: str, status: int, code: str | None = None, message: str | None = None
    ) -> Reply:
        if code:
            return self._error(req, IceError(status, code, message or code))
        if status == 429:
            return self._error(req, IceError(429, "Throttling.User", "Request was denied due to user flow control."))
        return self._error(
            req, IceError(status, "InternalError", "The request processing has failed due to some unknown error.")
        )

    # ------------------------------------------------------------------------------------------ signature

    def _verify(self, req: Request) -> None:
        auth = req.header("Authorization") or ""
        if not auth.startswith(ALGORITHM + " "):
            raise IceError(400, "IncompleteSignature", f"Only {ALGORITHM} is accepted by the emulator.")
        fields = dict(item.strip().partition("=")[::2] for item in auth[len(ALGORITHM) + 1 :].split(","))
        access_key_id, signed_list, signature = (
            fields.get("Credential", ""),
            fields.get("SignedHeaders", ""),
            fields.get("Signature", ""),
        )
        if access_key_id != self.emu.access_key_id:
            raise IceError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        token = req.header("x-acs-security-token")
        if token != self.emu.security_token and (token or self.emu.security_token):
            raise IceError(400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken is invalid.")
        signed = [h for h in signed_list.split(";") if h]
        present = {name for name, _ in req.header_items()}
        must = {"host", "x-acs-content-sha256"} | {h for h in present if h.startswith("x-acs-")}
        must |= {"content-type"} & present
        if not must <= set(signed):
            missing = ",".join(sorted(must - set(signed)))
            raise IceError(400, "IncompleteSignature", f"The request signature does not sign: {missing}.")
        if req.header("x-acs-version") != VERSION:
            raise IceError(400, "InvalidVersion", f"Specified parameter Version is not valid (want {VERSION}).")
        payload_hash = hashlib.sha256(req.body).hexdigest()
        if req.header("x-acs-content-sha256") != payload_hash:
            raise IceError(400, "SignatureDoesNotMatch", "x-acs-content-sha256 does not match the request body.")
        try:
            stamp = datetime.strptime(req.header("x-acs-date") or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError as exc:
            raise IceError(
                400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."
            ) from exc
        if abs((datetime.now(UTC) - stamp).total_seconds()) > MAX_SKEW:
            raise IceError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")

        query = sorted((k, quote(v, safe="~")) for k, v in req.query)
        headers: list[str] = []
        for name in signed:
            values = sorted(v.strip() for v in req.headers.get_all(name, []))
            headers.append(f"{name}:{','.join(values)}\n")
        canonical_request = "\n".join(
            [
                req.method,
                req.path or "/",
                "&".join(f"{k}={v}" for k, v in query),
                "".join(headers),
                ";".join(signed),
                payload_hash,
            ]
        )
        string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        expected = hmac.new(self.emu.access_key_secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise IceError(
                400,
                "SignatureDoesNotMatch",
                f"Specified signature does not match our calculation. server string to sign is:{string_to_sign}",
            )
        nonce = req.header("x-acs-signature-nonce") or ""
        now = time.monotonic()
        with self.emu.lock:
            self._nonces = {n: t for n, t in self._nonces.items() if now - t < 2 * MAX_SKEW}
            if not nonce or nonce in self._nonces:
                raise IceError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
            self._nonces[nonce] = now

    # ------------------------------------------------------------------------------------------ actions

    def handle(self, req: Request, action: str, params: dict[str, Any]) -> Reply:
        try:
            if req.method not in ("POST", "GET"):
                raise IceError(405, "UnsupportedHTTPMethod", f"{req.method} is not supported.")
            self._verify(req)
            if action not in ACTIONS:
                raise IceError(404, "InvalidAction.NotFound", f"Specified api {action} is not found.")
            for name in JSON_PARAMS:
                if name in params and not isinstance(params[name], dict):
                    raise IceError(400, "InvalidParameter", f"The parameter {name} is not a JSON object.")
            output = getattr(self, f"_{action}")(params)
        except IceError as err:
            return self._error(req, err)
        return self._json(200, {"RequestId": str(uuid.uuid4()).upper(), **output})

    @staticmethod
    def _required(params: dict[str, Any], name: str) -> str:
        value = params.get(name)
        if not isinstance(value, str) or not value:
            raise IceError(400, f"Missing{name}", f"{name} is mandatory for this action.")
        return value

    def _instance(self, params: dict[str, Any]) -> _Instance:
        instance_id = self._required(params, "InstanceId")
        inst = self.emu._instances.get(instance_id)
        if inst is None:
            raise IceError(404, "InvalidInstanceId.NotFound", f"The instance {instance_id} does not exist.")
        return inst

    def _DescribeAIAgentInstance(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.emu.lock:
            inst = self._instance(params)
            # Field names as in DescribeAIAgentInstanceResponseBodyInstance (no InstanceId/AIAgentId there).
            body: dict[str, Any] = {
                "Status": inst.status,
                "AgentConfig": copy.deepcopy(inst.agent_config),
                "TemplateConfig": copy.deepcopy(inst.template_config),
                "RuntimeConfig": copy.deepcopy(inst.runtime_config),
                "CallLogUrl": f"https://ice.example/calllog/{inst.instance_id}.json",
                "GmtCreate": _iso(inst.created),
                "GmtModified": _iso(inst.modified),
            }
            if inst.user_data is not None:
                body["UserData"] = inst.user_data
            if inst.session_id is not None:
                body["SessionId"] = inst.session_id
        return {"Instance": body}

    def _UpdateAIAgentInstance(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.emu.lock:
            inst = self._instance(params)
            if inst.status != "Executing":
                raise IceError(400, "Forbidden.InstanceNotExecuting", f"The instance is {inst.status}.")
            if "AgentConfig" in params:
                inst.agent_config = deep_merge(inst.agent_config, params["AgentConfig"])
            if "TemplateConfig" in params:
                inst.template_config = deep_merge(inst.template_config, params["TemplateConfig"])
            if "UserData" in params:
                inst.user_data = params["UserData"]
            inst.modified = datetime.now(UTC)
        return {}

    def _StartAIAgentInstance(self, params: dict[str, Any]) -> dict[str, Any]:
        agent_id = self._required(params, "AIAgentId")
        inst = _Instance(uuid.uuid4().hex, agent_id, copy.deepcopy(params.get("AgentConfig", {})))
        inst.template_config = copy.deepcopy(params.get("TemplateConfig", {}))
        inst.runtime_config = copy.deepcopy(params.get("RuntimeConfig", {}))
        inst.user_data = params.get("UserData")
        inst.session_id = params.get("SessionId")
        with self.emu.lock:
            self.emu._instances[inst.instance_id] = inst
        return {"InstanceId": inst.instance_id}

    def _StopAIAgentInstance(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.emu.lock:
            inst = self._instance(params)
            inst.status = "Finished"
            inst.modified = datetime.now(UTC)
        return {}
