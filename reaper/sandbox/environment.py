"""The process environment for talking to the sandbox, and to no real AWS account."""

from __future__ import annotations

import os
from collections.abc import Mapping

from reaper.sandbox.estate import SANDBOX_KEY_ID, SANDBOX_SECRET

LOOPBACK_NAMES = ("127.0.0.1", "localhost")
SANDBOX_STATE_KEY = "sandbox-state-key-not-a-secret"
"""The key that signs lifecycle tags in the sandbox: a placeholder, public like the rest."""


def sandbox_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without any AWS setting of its own, with the sandbox's placeholders. Pure.

    Every ``AWS_*`` variable goes: a profile, token, role, endpoint or region could point
    the SDK at a real account. Credentials become placeholders; instance metadata and the
    config files are off (``os.devnull`` is not a regular file, so botocore reads no
    profile); no default region, so every client names its own. The sandbox listens on
    loopback, which is added to ``NO_PROXY`` so an HTTP(S) proxy never sees it. The state
    key that signs lifecycle tags is the sandbox's placeholder.
    """
    env = {k: v for k, v in environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=SANDBOX_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SANDBOX_SECRET,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        REAPER_STATE_KEY=SANDBOX_STATE_KEY,
    )
    for name in ("NO_PROXY", "no_proxy"):
        current = [p for p in environ.get(name, "").split(",") if p]
        env[name] = ",".join([*current, *(n for n in LOOPBACK_NAMES if n not in current)])
    return env
