"""boto3 sessions that share one botocore data loader, so a new session does not read the service models again.

The emulation makes a session per role (sluice.local.iam) and per credentials (sluice.local.lambdas); a fresh
botocore session loads and parses each service's JSON model on its first client (a tenth of a second or more
per service), and the loader's cache belongs to the session. Sharing the loader shares that cache.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.loaders
import botocore.session

_LOADER = botocore.loaders.create_loader()


def session(**kwargs: Any) -> boto3.Session:
    """`boto3.Session(**kwargs)` on a botocore session that uses the process's shared data loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, **kwargs)
