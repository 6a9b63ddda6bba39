"""The baseline: what the sample in Alibaba Cloud's voice-cloning guide does, one voice after another.

For each voice: upload the audio to OSS (oss2), sign a GET URL, `create_voice` with the dashscope SDK's
`VoiceEnrollmentService`, then `query_voice` every second until the voice is OK. No parallelism, no
shared polling, no state: the figure bench/bench_perf.py compares `voicectl apply` against.

    python bench/baseline_sequential.py --voices 5   # against the endpoints in the environment
                                                    # (e.g. the exports of `python -m tests.emulator`)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class BaselineResult:
    voices: int
    wall: float
    queries: int


def run_baseline(
    env: Mapping[str, str],
    audio: Sequence[Path],
    *,
    bucket: str = "voices",
    prefix: str = "base",
    model: str = "cosyvoice-v2",
    region: str = "cn-beijing",
    poll: float = 1.0,
    timeout: float = 900.0,
) -> BaselineResult:
    """Clone every file in `audio` sequentially, as the guide's sample does; returns the wall time."""
    import dashscope
    import oss2
    from dashscope.audio.tts_v2 import VoiceEnrollmentService
    from oss2.credentials import StaticCredentialsProvider

    # The guide sets the endpoint once, module-wide.
    dashscope.base_http_api_url = env["DASHSCOPE_HTTP_BASE_URL"]
    service = VoiceEnrollmentService(api_key=env["DASHSCOPE_API_KEY"])
    auth = oss2.ProviderAuthV4(
        StaticCredentialsProvider(env["ALIBABA_CLOUD_ACCESS_KEY_ID"], env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"])
    )
    oss = oss2.Bucket(auth, env["VOICECTL_OSS_ENDPOINT"], bucket, region=region)

    queries = 0
    started = time.perf_counter()
    for i, path in enumerate(audio):
        key = f"baseline/{prefix}/{i:03d}-{path.name}"
        oss.put_object_from_file(key, str(path))
        url = oss.sign_url("GET", key, 3600, slash_safe=True)
        voice_id = service.create_voice(target_model=model, prefix=prefix, url=url)
        deadline = time.monotonic() + timeout
        while True:
            status = service.query_voice(voice_id)["status"]
            queries += 1
            if status == "OK":
                break
            if status == "UNDEPLOYED":
                raise RuntimeError(f"{voice_id} failed review")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{voice_id} still {status} after {timeout} s")
            time.sleep(poll)
    return BaselineResult(len(audio), time.perf_counter() - started, queries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", type=int, default=5, help="voices to clone (default 5)")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between query_voice calls (default 1)")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from reconciler.audio.sample import write_sample_wav

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "sample.wav"
        write_sample_wav(str(wav), seconds=11.0)
        result = run_baseline(os.environ, [wav] * args.voices, poll=args.poll)
    print(f"baseline: {result.voices} voices in {result.wall:.2f} s ({result.queries} query_voice calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
