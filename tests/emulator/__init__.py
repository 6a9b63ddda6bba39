"""A loopback emulator of DashScope voice enrollment, OSS and ICE, for testing voicectl's adapters through the
real SDKs (dashscope, oss2, alibabacloud-ice20201109) without mocks.

    with Emulator(buckets=("voices",), review_delay=0.2) as emu:
        dashscope.base_http_api_url = emu.dashscope_base_url
        ...
        assert emu.count("dashscope", "create_voice") == 1

Standard-library HTTP servers bound to 127.0.0.1, one per service, one in-memory account. See `Emulator` for
the control API (faults, latency, review outcomes, seeding, recorded calls).
"""

from tests.emulator.core import COSYVOICE_MODELS, QWEN_MODELS, Call, Emulator

__all__ = ["COSYVOICE_MODELS", "QWEN_MODELS", "Call", "Emulator"]
