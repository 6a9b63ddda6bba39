"""`voicectl init`: a starter voices.yaml, the schema it points at, and a generated sample audio, so a new
project validates, plans and applies on the local provider at once. Never overwrites anything."""

from __future__ import annotations

import os

from reconciler.config.schema import schema_json
from reconciler.errors import VoicectlError

SAMPLE = "audio/sample.wav"
STARTER = """\
# yaml-language-server: $schema=./schemas/voices.schema.json
# voicectl desired state: `voicectl validate`, `voicectl plan`, `voicectl apply`.
version: 1
account:
  provider: local        # the embedded simulated account; switch to aliyun for Model Studio + OSS + IMS
  quota: 30
  prefix: vc
voices:
  - name: sample
    audio: {sample}      # replace with 10-20 s of one speaker reading clearly
    model: cosyvoice-v2
    language: en
bindings:
  - agent: my-agent-id   # the IMS AIAgentId whose TTS node should speak with the voice
    voice: sample
    model: cosyvoice-v2
"""


def write_starter(path: str) -> list[str]:
    base = os.path.dirname(os.path.abspath(path))
    sample = os.path.join(base, SAMPLE)
    schema = os.path.join(base, "schemas", "voices.schema.json")
    existing = [p for p in (path, sample) if os.path.exists(p)]
    if existing:
        raise VoicectlError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}: init never overwrites a file"
        )
    from reconciler.audio.sample import write_sample_wav

    os.makedirs(os.path.dirname(sample), exist_ok=True)
    write_sample_wav(sample, seconds=12.0, sample_rate=16000, seed=7)
    written = [os.path.relpath(sample)]
    if not os.path.exists(schema):
        os.makedirs(os.path.dirname(schema), exist_ok=True)
        with open(schema, "w", encoding="utf-8") as f:
            f.write(schema_json())
        written.append(os.path.relpath(schema))
    with open(path, "x", encoding="utf-8") as f:
        f.write(STARTER.format(sample=SAMPLE))
    written.insert(0, os.path.relpath(path))
    return written
