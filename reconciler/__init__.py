"""voicectl: Terraform-style plan/apply for cloned TTS voices on Alibaba Cloud."""

__version__ = "0.1.0"
