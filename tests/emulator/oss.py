"""OSS, path-style (`/<bucket>/<key>`), V4-signed only: the object calls voicectl makes, and nothing public."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from oss2.utils import Crc64  # the exact CRC-64/XZ the SDK checks uploads and downloads against

from tests.emulator._http import Reply, Request
from tests.emulator._sign_oss import OssAuthError, verify_oss_v4
from tests.emulator._state import _Bucket, _Object

if TYPE_CHECKING:
    from tests.emulator.core import Emulator

PUBLIC_ACLS = ("public-read", "public-read-write")


class OssError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _iso(ts: datetime) -> str:
    # OSS always writes ".000Z", and oss2's ISO 8601 parser accepts nothing else.
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _crc64(data: bytes) -> int:
    crc = Crc64()
    crc.update(data)
    return crc.crc


def _split_path(path: str) -> tuple[str | None, str]:
    """(bucket, key) from the still-encoded path; oss2 sends `/` in keys as %2F, so split before decoding."""
    parts = path.lstrip("/").split("/", 1)
    if not parts[0]:
        return None, ""
    return unquote(parts[0]), unquote(parts[1]) if len(parts) > 1 else ""


class OssService:
    name = "oss"

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    def identify(self, req: Request) -> tuple[str, dict[str, Any]]:
        bucket, key = _split_path(req.path)
        q = req.query_dict
        m = req.method
        if bucket is None:
            action = "ListBuckets" if m == "GET" else f"Service{m.title()}"
        elif not key:
            sub = next((s for s in ("versioning", "acl", "policy", "cors", "lifecycle") if s in q), None)
            if m == "GET" and sub is None:
                action = "ListObjectsV2" if q.get("list-type") == "2" else "ListObjects"
            else:
                verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head", "POST": "Post"}[m]
                action = f"{verb}Bucket{(sub or '').title()}"
        elif "acl" in q:
            action = {"GET": "GetObjectAcl", "PUT": "PutObjectAcl"}.get(m, f"{m.title()}ObjectAcl")
        else:
            action = {
                "PUT": "CopyObject" if req.header("x-oss-copy-source") else "PutObject",
                "GET": "GetObject",
                "HEAD": "HeadObject",
                "DELETE": "DeleteObject",
                "POST": "PostObject",
            }[m]
        headers = {
            name: value
            for name, value in req.header_items()
            if name.startswith("x-oss-") or name in ("content-type", "content-md5")
        }
        params = {
            "bucket": bucket,
            "key": key,
            "query": q,
            "headers": headers,
            "size": len(req.body),
            "presigned": "x-oss-signature" in q,
        }
        return action, params

    # ------------------------------------------------------------------------------------------ replies

    def _now(self) -> datetime:
        """The service's clock: the machine's, moved by `Emulator.oss_clock_offset` (a skewed client is the
        same as a skewed service; the lock lease must follow the service)."""
        return datetime.fromtimestamp(time.time() + self.emu.oss_clock_offset, UTC)

    def _base_headers(self, request_id: str) -> list[tuple[str, str]]:
        return [
            ("Server", "AliyunOSS"),
            ("Date", format_datetime(self._now(), usegmt=True)),
            ("x-oss-request-id", request_id),
        ]

    def _error(self, req: Request, err: OssError) -> Reply:
        request_id = secrets.token_hex(12).upper()
        fields = [("Code", err.code), ("Message", err.message), ("RequestId", request_id)]
        fields.append(("HostId", req.header("Host") or "127.0.0.1"))
        fields += list(err.extra.items())
        xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        xml += "".join(f"  <{k}>{escape(v)}</{k}>\n" for k, v in fields) + "</Error>\n"
        headers = self._base_headers(request_id)
        if req.method == "HEAD":
            # A HEAD answer has no body, so OSS carries the error document in a header instead.
            headers += [("x-oss-err", base64.b64encode(xml.encode()).decode()), ("Content-Length", "0")]
            return Reply(err.status, b"", headers)
        headers.append(("Content-Type", "application/xml"))
        return Reply(err.status, xml.encode(), headers)

    def fault_reply(
        self, req: Request, action: str, status: int, code: str | None = None, message: str | None = None
    ) -> Reply:
        if code:
            return self._error(req, OssError(status, code, message or code))
        if status == 429:
            return self._error(req, OssError(429, "TooManyRequests", "Please reduce your request rate."))
        return self._error(req, OssError(status, "InternalError", "We encountered an internal error."))

    def _xml(self, body: str, request_id: str) -> Reply:
        headers = [*self._base_headers(request_id), ("Content-Type", "application/xml")]
        return Reply(200, ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode(), headers)

    # ------------------------------------------------------------------------------------------ dispatch

    def handle(self, req: Request, action: str, params: dict[str, Any]) -> Reply:
        try:
            bucket_name, key = params["bucket"], params["key"]
            if bucket_name is None:
                raise OssError(501, "NotImplemented", f"The emulator does not implement {action}.")
            with self.emu.lock:
                bucket = self.emu._buckets.get(bucket_name)
            if bucket is None:
                raise OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket_name)
            try:
                verify_oss_v4(req, bucket_name, key, self.emu, bucket.region)
            except OssAuthError as exc:
                raise OssError(exc.status, exc.code, exc.message, **exc.extra) from exc
            if action in self.emu.denied_oss_actions:
                # What OSS answers when the AccessKey's RAM policy does not allow oss:<action>.
                raise OssError(
                    403,
                    "AccessDenied",
                    "You are not authorized to do this action. You should be authorized by RAM.",
                    Action=f"oss:{action}",
                )
            request_id = secrets.token_hex(12).upper()
            op = getattr(self, f"_op_{action}", None)
            if op is None:
                raise OssError(501, "NotImplemented", f"The emulator does not implement {action}.")
            return op(req, bucket, key, request_id)
        except OssError as err:
            return self._error(req, err)

    def _deny_public(self, acl: str | None) -> None:
        if acl and acl.strip().lower() in PUBLIC_ACLS:
            with self.emu.lock:
                self.emu.public_acl_attempts += 1
            # What a bucket under Block Public Access answers; voicectl must never make audio public.
            raise OssError(403, "AccessDenied", "Put public object acl is not allowed.")

    # ------------------------------------------------------------------------------------------ objects

    def _op_PutObject(self, req: Request, bucket: _Bucket, key: str, request_id: str) -> Reply:
        self._deny_public(req.header("x-oss-object-acl"))
        md5 = hashlib.md5(req.body).digest()
        sent_md5 = req.header("Content-MD5")
        if sent_md5 is not None:
            try:
                claimed = base64.b64decode(sent_md5.strip(), validate=True)
            except (binascii.Error, ValueError):
                claimed = b""
            if claimed != md5:
                raise OssError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        forbid = (req.header("x-oss-forbid-overwrite") or "").strip().lower() == "true"
        obj = _Object(
            data=req.body,
            content_type=req.header("Content-Type") or "application/octet-stream",
            meta={k[len("x-oss-meta-") :]: v for k, v in req.header_items() if k.startswith("x-oss-meta-")},
            etag=md5.hex().upper(),
            crc64=_crc64(req.body),
            last_modified=self._now(),
            acl=(req.header("x-oss-object-acl") or "default").strip(),
        )
        with self.emu.lock:
            # Versioned buckets ignore forbid-overwrite, as the real service does (each PUT is a new version).
            if forbid and bucket.versioning is None and key in bucket.objects:
                raise OssError(
                    409,
                    "FileAlreadyExists",
                    "The object you specified already exists and can not be overwritten.",
                    Key=key,
                )
            bucket.objects[key] = obj
        headers = self._base_headers(request_id)
        headers += [
            ("ETag", f'"{obj.etag}"'),
            ("Content-MD5", base64.b64encode(md5).decode()),
            ("x-oss-hash-crc64ecma", str(obj.crc64)),
        ]
        if bucket.versioning == "Enabled":
            headers.append(("x-oss-version-id", secrets.token_hex(16)))
        return Reply(200, b"", headers)

    def _object(self, bucket: _Bucket, key: str) -> _Object:
        with self.emu.lock:
            obj = bucket.objects.get(key)
        if obj is None:
            raise OssError(404, "NoSuchKey", "The specified key does not exist.", Key=key)
        return obj

    def _object_headers(self, obj: _Object, request_id: str) -> list[tuple[str, str]]:
        headers = self._base_headers(request_id)
        headers += [
            ("Content-Type", obj.content_type),
            ("ETag", f'"{obj.etag}"'),
            ("Last-Modified", format_datetime(obj.last_modified, usegmt=True)),
            ("Accept-Ranges", "bytes"),
            ("x-oss-object-type", "Normal"),
            ("x-oss-storage-class", "Standard"),
            ("x-oss-hash-crc64ecma", str(obj.crc64)),
            ("Content-MD5", base64.b64encode(bytes.fromhex(obj.etag)).decode()),
        ]
        headers += [(f"x-oss-meta-{k}", v) for k, v in obj.meta.items()]
        return headers

    def _op_GetObject(self, req: Request, bucket: _Bucket, key: str, request_id: str) -> Reply:
        obj = self._object(bucket, key)
        headers = self._object_headers(obj, request_id)
        rng = (req.header("Range") or "").strip()
        if rng.startswith("bytes=") and "," not in rng:
            first, _, last = rng[6:].partition("-")
            size = len(obj.data)
            try:
                start, end = (int(first), int(last) if last else size - 1) if first else (size - int(last), size - 1)
            except ValueError:
                start, end = -1, -1
            # OSS ignores a range it cannot satisfy and answers with the whole object.
            if 0 <= start <= end < size:
                headers = [(k, v) for k, v in headers if k != "x-oss-hash-crc64ecma"]
                headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
                return Reply(206, obj.data[start : end + 1], headers)
        return Reply(200, obj.data, headers)

    def _op_HeadObject(self, req: Request, bucket: _Bucket, key: str, request_id: str) -> Reply:
        obj = self._object(bucket, key)
        headers = self._object_headers(obj, request_id)
        headers.append(("Content-Length", str(len(obj.data))))
        return Reply(200, b"", headers, omit_body=True)

    def _op_DeleteObject(self, req: Request, bucket: _Bucket, key: str, request_id: str) -> Reply:
        with self.emu.lock:
            bucket.objects.pop(key, None)
        return Reply(204, b"", self._base_headers(request_id))

    def _op_PutObjectAcl(self, req: Request, bucket: _Bucket, key: str, request_id: str) -> Reply:
        acl = req.header("x-oss-object-acl")
        self._deny_public(acl)
        obj = self._object(bucket, key)
        if acl not in ("private", "default"):
            raise OssError(400, "InvalidArgument", f"no such object access control exists: {acl}")
        with self.emu.lock:
            obj.acl = acl
        return Reply(200, b"", self._base_headers(request_id))

    def _op_GetObjectAcl(self, req: Request, bucket: _Bucket, key: str, request_id: str) -> Reply:
        obj = self._object(bucket, key)
        body = (
            "<AccessControlPolicy><Owner><ID>1</ID><DisplayName>1</DisplayName></Owner>"
            f"<AccessControlList><Grant>{obj.acl}</Grant></AccessControlList></AccessControlPolicy>"
        )
        return self._xml(body, request_id)

    # ------------------------------------------------------------------------------------------ bucket

    def _op_PutBucketAcl(self, req: Request, bucket: _Bucket, key: str, request_id: str) -> Reply:
        self._deny_public(req.header("x-oss-acl"))
        return Reply(200, b"", self._base_headers(request_id))

    def _op_GetBucketVersioning(self, req: Request, bucket: _Bucket, key: str, request_id: str) -> Reply:
        status = f"<Status>{bucket.versioning}</Status>" if bucket.versioning else ""
        return self._xml(f"<VersioningConfiguration>{status}</VersioningConfiguration>", request_id)

    def _op_ListObjectsV2(self, req: Request, bucket: _Bucket, key: str, request_id: str) -> Reply:
        q = req.query_dict
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        start_after, token = q.get("start-after", ""), q.get("continuation-token", "")
        url_encoded = q.get("encoding-type") == "url"
        try:
            max_keys = int(q.get("max-keys") or 100)
        except ValueError:
            max_keys = -1
        if not 1 <= max_keys <= 1000:
            raise OssError(400, "InvalidArgument", "max-keys must be between 1 and 1000.")
        after, skip_prefix = start_after, ""
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
                after, skip_prefix = state["after"], state.get("cp", "")
            except (ValueError, KeyError, TypeError) as exc:
                raise OssError(400, "InvalidArgument", "The continuation token provided is incorrect.") from exc
        with self.emu.lock:
            items = sorted(bucket.objects.items())
        contents: list[tuple[str, _Object]] = []
        prefixes: list[str] = []
        last, last_cp, truncated = "", "", False
        for name, obj in items:
            if not name.startswith(prefix) or name <= after or (skip_prefix and name.startswith(skip_prefix)):
                continue
            rest = name[len(prefix) :]
            cp = prefix + rest[: rest.index(delimiter) + len(delimiter)] if delimiter and delimiter in rest else ""
            if cp and prefixes and prefixes[-1] == cp:
                continue
            if len(contents) + len(prefixes) == max_keys:
                truncated = True
                break
            if cp:
                prefixes.append(cp)
                last, last_cp = name, cp
            else:
                contents.append((name, obj))
                last, last_cp = name, ""

        def enc(text: str) -> str:
            return escape(quote(text, safe="/") if url_encoded else text)

        parts = [
            f"<Name>{escape(bucket.name)}</Name>",
            f"<Prefix>{enc(prefix)}</Prefix>",
            f"<MaxKeys>{max_keys}</MaxKeys>",
            f"<Delimiter>{enc(delimiter)}</Delimiter>",
        ]
        if start_after:
            parts.append(f"<StartAfter>{enc(start_after)}</StartAfter>")
        if url_encoded:
            parts.append("<EncodingType>url</EncodingType>")
        parts.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if token:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if truncated:
            state = json.dumps({"after": last, "cp": last_cp}).encode()
            parts.append(
                f"<NextContinuationToken>{base64.urlsafe_b64encode(state).decode().rstrip('=')}</NextContinuationToken>"
            )
        parts.append(f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount>")
        owner = q.get("fetch-owner") == "true"
        for name, obj in contents:
            parts.append(
                f"<Contents><Key>{enc(name)}</Key><LastModified>{_iso(obj.last_modified)}</LastModified>"
                f'<ETag>"{obj.etag}"</ETag><Type>Normal</Type><Size>{len(obj.data)}</Size>'
                "<StorageClass>Standard</StorageClass>"
                + ("<Owner><ID>1</ID><DisplayName>1</DisplayName></Owner>" if owner else "")
                + "</Contents>"
            )
        parts += [f"<CommonPrefixes><Prefix>{enc(p)}</Prefix></CommonPrefixes>" for p in prefixes]
        return self._xml("<ListBucketResult>" + "".join(parts) + "</ListBucketResult>", request_id)
