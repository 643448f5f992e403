"""The environment of a `sluice` or `aws` process that talks to a local endpoint: this process's own, without
its AWS and SLUICE settings, with dummy credentials and no config files, as an operator's shell would be."""

from __future__ import annotations

import os


def client_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLUICE_"))}
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env
