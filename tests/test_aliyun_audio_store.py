"""AudioStore on OSS (oss2, V4 signing) against the emulator."""

# The `emu` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import base64
import hashlib
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from reconciler.errors import AuthError, ProviderError
from reconciler.providers.aliyun.audio_store import MAX_URL_TTL
from tests.audio_fixtures import write_wav
from tests.emulator import Emulator
from tests.test_aliyun_support import (
    AK_SECRET,
    BUCKET,
    REGION,
    SECRETS,
    STS_TOKEN,
    audio_store,
    emu,  # noqa: F401  (the fixture)
)

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with _NO_PROXY.open(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wav(tmp_path: Path, seconds: float = 11.0) -> tuple[Path, str]:
    path = write_wav(tmp_path / f"a-{seconds}.wav", seconds=seconds)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_upload_is_content_addressed_and_skipped_when_present(emu: Emulator, tmp_path: Path) -> None:
    store = audio_store(emu.env())
    path, sha = wav(tmp_path)
    key = f"voicectl/audio/support/{sha}.wav"

    assert store.ensure_uploaded(path=str(path), key=key, sha256=sha, content_type="audio/wav") is True
    assert store.ensure_uploaded(path=str(path), key=key, sha256=sha, content_type="audio/wav") is False

    assert emu.objects(BUCKET)[key] == path.read_bytes()
    assert [c.action for c in emu.calls] == ["HeadObject", "PutObject", "HeadObject"]
    put = next(c for c in emu.calls if c.action == "PutObject")
    expected_md5 = base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()
    assert put.params["headers"]["content-md5"] == expected_md5
    assert put.params["headers"]["x-oss-meta-sha256"] == sha
    assert "x-oss-object-acl" not in put.params["headers"]
    info = emu.object_info(BUCKET, key)
    assert info["meta"]["sha256"] == sha and info["content_type"] == "audio/wav" and info["acl"] == "default"
    assert emu.public_acl_attempts == 0


def test_upload_refuses_a_file_that_changed_since_hashing(emu: Emulator, tmp_path: Path) -> None:
    store = audio_store(emu.env())
    path, _ = wav(tmp_path)
    with pytest.raises(ProviderError, match="changed since it was checked"):
        store.ensure_uploaded(path=str(path), key="k/x.wav", sha256="0" * 64, content_type="audio/wav")
    assert emu.objects(BUCKET) == {}


def test_upload_survives_faults(emu: Emulator, tmp_path: Path) -> None:
    store = audio_store(emu.env())
    path, sha = wav(tmp_path)
    key = f"voicectl/audio/support/{sha}.wav"
    emu.inject("oss", "HeadObject", "500")
    emu.inject("oss", "PutObject", "drop_after_commit")
    # The retried PUT meets its own first attempt (forbid-overwrite 409): still reported as uploaded.
    assert store.ensure_uploaded(path=str(path), key=key, sha256=sha, content_type="audio/wav") is True
    assert emu.objects(BUCKET)[key] == path.read_bytes()


def test_signed_url_fetchable_then_expires(emu: Emulator, tmp_path: Path) -> None:
    store = audio_store(emu.env())
    path, sha = wav(tmp_path)
    key = f"voicectl/audio/support/{sha}.wav"
    store.ensure_uploaded(path=str(path), key=key, sha256=sha, content_type="audio/wav")

    url = store.signed_url(key, 600)
    assert fetch(url) == (200, path.read_bytes())
    assert "x-oss-signature" in url and parse_qs(urlsplit(url).query)["x-oss-signature-version"] == ["OSS4-HMAC-SHA256"]

    capped = store.signed_url(key, 30 * 24 * 3600)
    assert parse_qs(urlsplit(capped).query)["x-oss-expires"] == [str(MAX_URL_TTL)]
    assert fetch(capped)[0] == 200

    short = store.signed_url(key, 1)
    time.sleep(2.1)
    status, body = fetch(short)
    assert status == 403 and b"expired" in body


def test_url_for(emu: Emulator, tmp_path: Path) -> None:
    env = emu.env()
    store = audio_store(env)
    path, sha = wav(tmp_path)
    # An object in another bucket, referenced as oss://bucket/key in voices.yaml.
    other = audio_store(env)
    other.bucket_name = "other"
    other.ensure_uploaded(path=str(path), key="shared/a.wav", sha256=sha, content_type="audio/wav")

    url = store.url_for("oss://other/shared/a.wav", 300)
    assert fetch(url) == (200, path.read_bytes())
    assert store.url_for("https://example.com/a.wav?x=1", 300) == "https://example.com/a.wav?x=1"
    with pytest.raises(ProviderError, match="oss://bucket/key"):
        store.url_for("oss://other", 300)
    with pytest.raises(ProviderError):
        store.url_for("ftp://x/y.wav", 300)


def test_credentials_missing_or_wrong(emu: Emulator, tmp_path: Path) -> None:
    env = emu.env()
    path, sha = wav(tmp_path)
    missing = audio_store({k: v for k, v in env.items() if not k.startswith("ALIBABA")})
    with pytest.raises(AuthError, match="ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        missing.ensure_uploaded(path=str(path), key="k.wav", sha256=sha, content_type="audio/wav")
    wrong = audio_store({**env, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "not-the-secret"})
    with pytest.raises(AuthError, match="ALIBABA_CLOUD_ACCESS_KEY_SECRET") as err:
        wrong.ensure_uploaded(path=str(path), key="k.wav", sha256=sha, content_type="audio/wav")
    assert "not-the-secret" not in str(err.value)


def test_sts_token_signing_and_no_secret_in_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Emulator(
        access_key_id="STS.tmpid", access_key_secret=AK_SECRET, security_token=STS_TOKEN, region=REGION
    ) as sts:
        store = audio_store(sts.env())
        path, sha = wav(tmp_path)
        assert store.ensure_uploaded(path=str(path), key="a/b.wav", sha256=sha, content_type="audio/wav")
        url = store.signed_url("a/b.wav", 60)
        assert fetch(url)[0] == 200
        bad = audio_store({**sts.env(), "ALIBABA_CLOUD_SECURITY_TOKEN": STS_TOKEN + "-old"})
        with pytest.raises(AuthError, match="ALIBABA_CLOUD_SECURITY_TOKEN") as err:
            bad.ensure_uploaded(path=str(path), key="a/c.wav", sha256=sha, content_type="audio/wav")
    text = caplog.text + str(err.value)
    assert "oss put a/b.wav" in caplog.text
    for secret in SECRETS:
        assert secret not in text
    assert "x-oss-signature" not in text
