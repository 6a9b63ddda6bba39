"""Regenerate the short clean speech readings in reconciler/audio/data/ with espeak-ng and sox.

    apt-get install -y espeak-ng sox
    python scripts/make_speech_fixtures.py [OUT_DIR]

Run once, commit the output. The readings are real (synthesized) speech, unlike a tone: what the lint's voice
activity detector, SNR estimate and loudness meter are tested on (tests/test_lint_fixtures.py derives its ten
variants from them in the test setup), what `voicectl init` writes as its sample, and what
scripts/make_example_audio.py encodes into examples/audio/. They are committed as Ogg Vorbis (about 7 kB/s,
transparent for these measurements) so that nobody needs espeak-ng or sox to run the tests.

espeak-ng writes 16-bit mono WAV at 22050 Hz; sox encodes it (quality 4). The script prints each reading's
lint metrics and fails if any reading draws a finding.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

OUT_DIR = os.path.join(ROOT, "reconciler", "audio", "data")

# name -> (espeak-ng voice, words per minute, text). Each reads for 12-14 s: inside the recommended 10-20 s
# with room for the inserted 4 s pause of the pause fixture.
READINGS: dict[str, tuple[str, int, str]] = {
    "en-male": (
        "en-us",
        160,
        "Please leave a message after the tone, and we will call you back as soon as we can. Our support "
        "team is available every day, from eight in the morning until six in the evening. Thank you for calling.",
    ),
    "en-female": (
        "en+f3",
        160,
        "Good morning, and welcome to the city library. Today there is a reading for children at ten, a talk "
        "about local history at noon, and the garden club meets at four. Books are due back in three weeks.",
    ),
    "zh": (
        "cmn",
        175,
        "欢迎致电客户服务中心。我们的工作时间是每天早上八点到晚上六点。请在提示音后留言。",
    ),
}


def make(name: str, out_dir: str, work: str) -> str:
    voice, speed, text = READINGS[name]
    wav = os.path.join(work, f"{name}.wav")
    out = os.path.join(out_dir, f"{name}.ogg")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", wav, text], check=True)
    subprocess.run(["sox", wav, "-C", "4", out], check=True)
    return out


def main(argv: list[str]) -> int:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        print(f"{' and '.join(missing)} not found: apt-get install -y espeak-ng sox", file=sys.stderr)
        return 1
    out_dir = argv[1] if len(argv) > 1 else OUT_DIR
    os.makedirs(out_dir, exist_ok=True)
    from reconciler.audio.lint import lint_file
    from reconciler.catalog import MODELS

    failed = False
    with tempfile.TemporaryDirectory() as work:
        for name in READINGS:
            path = make(name, out_dir, work)
            report = lint_file(path, model=MODELS["cosyvoice-v2"], recorded=False, formats=False)
            m = report.metrics
            assert m is not None
            print(
                f"{path}: {os.path.getsize(path)} bytes, {m.analysed:.1f} s, speech {m.speech_ratio:.0%}, "
                f"longest speech {m.longest_speech:.1f} s, pause {m.longest_pause:.1f} s, SNR {m.snr_db:.1f} dB, "
                f"{m.lufs:.1f} LUFS, high band {m.high_band_db:.1f} dB"
            )
            for finding in report.findings:
                print(f"  {finding.message}", file=sys.stderr)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
