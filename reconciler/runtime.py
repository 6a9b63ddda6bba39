"""For session-start code: the AgentConfig that voicectl last published for an agent.

    from reconciler.runtime import agent_config
    client.start_aiagent_instance(StartAIAgentInstanceRequest(
        aiagent_id=AGENT_ID, agent_config=json.dumps(agent_config(AGENT_ID)), ...))

It reads the state backend named in voices.yaml (a local file or the OSS objects), never the voice service,
and needs no source audio: only the account settings of voices.yaml are used.
"""

from __future__ import annotations

from typing import Any

from reconciler.config.loader import load_desired, resolve_config_path
from reconciler.operations import agent_config as _agent_config
from reconciler.operations import read_state


def agent_config(agent_id: str, *, config: str | None = None) -> dict[str, Any]:
    """`{"TtsConfig": {"VoiceId": ...}}` for `agent_id`; raises VoicectlError when the agent has no binding."""
    desired, _ = load_desired(resolve_config_path(config), read_audio=False)
    return _agent_config(read_state(desired), agent_id)
