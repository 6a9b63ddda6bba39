"""Run the emulator in the foreground: `python -m tests.emulator --dashscope-port 8000 --oss-port 8001 ...`.

Prints `export K=V` lines for the environment voicectl reads, then one `ready` line, then serves until
interrupted (SIGINT or SIGTERM). The credentials printed are the emulator's own test credentials.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from types import FrameType

from tests.emulator.core import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__)
    parser.add_argument("--dashscope-port", type=int, default=0)
    parser.add_argument("--oss-port", type=int, default=0)
    parser.add_argument("--ice-port", type=int, default=0)
    parser.add_argument("--bucket", action="append", default=[], help="bucket to create (repeatable)")
    parser.add_argument("--region", default="cn-beijing")
    parser.add_argument("--review-delay", type=float, default=0.5, help="seconds a voice stays DEPLOYING")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every call")
    parser.add_argument("--rate-limit", type=int, default=10, help="enrollment requests per second, 0 = off")
    parser.add_argument("--voice-limit", type=int, default=1000)
    parser.add_argument("--api-key", default="sk-test")
    parser.add_argument("--access-key-id", default="LTAItest")
    parser.add_argument("--access-key-secret", default="secret-test")
    parser.add_argument(
        "--instance",
        action="append",
        default=[],
        metavar="INSTANCE_ID=AGENT_ID",
        help="seed a running AI agent instance with an empty AgentConfig (repeatable)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    emu = Emulator(
        api_key=args.api_key,
        access_key_id=args.access_key_id,
        access_key_secret=args.access_key_secret,
        buckets=tuple(args.bucket or ["voices"]),
        region=args.region,
        review_delay=args.review_delay,
        latency=args.latency,
        rate_limit=args.rate_limit or None,
        voice_limit=args.voice_limit,
        dashscope_port=args.dashscope_port,
        oss_port=args.oss_port,
        ice_port=args.ice_port,
        verbose=args.verbose,
    )
    for spec in args.instance:
        instance_id, sep, agent_id = spec.partition("=")
        if not sep or not instance_id or not agent_id:
            parser.error(f"--instance wants INSTANCE_ID=AGENT_ID, got {spec!r}")
        emu.add_instance(instance_id, agent_id, {})

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    emu.start()
    try:
        for key, value in emu.env().items():
            print(f"export {key}={shlex.quote(value)}")
        print(
            f"voicectl emulator ready: dashscope={emu.dashscope_base_url} oss={emu.oss_endpoint} "
            f"ice={emu.ice_endpoint} buckets={','.join(emu.buckets())}",
            flush=True,
        )
        stop.wait()
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
