"""The process environment for talking to the sandbox, and to no real AWS account."""

from __future__ import annotations

import os
from collections.abc import Mapping

from reaper.sandbox.estate import SANDBOX_KEY_ID, SANDBOX_SECRET

LOOPBACK_NAMES = ("127.0.0.1", "localhost")
_NO_METADATA = "127.0.0.1:9"  # the discard port: nothing listens, a connection is refused
SANDBOX_STATE_KEY = "sandbox-state-key-not-a-secret"
"""The key that signs lifecycle tags in the sandbox: a placeholder, public like the rest."""


def sandbox_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without any cloud setting of its own, with the sandbox's placeholders. Pure.

    Every ``AWS_*``, ``GOOGLE_*`` and ``CLOUDSDK_*`` variable goes: a profile, token, role,
    key file, endpoint or region could point an SDK at a real account. Credentials become
    placeholders; instance metadata (AWS's and Google's) and the config files are off
    (``os.devnull`` is not a regular file, so botocore reads no profile and gcloud's
    config directory does not exist); no default region, so every client names its own.
    The sandbox listens on loopback, which is added to ``NO_PROXY`` so an HTTP(S) proxy
    never sees it. The state key that signs lifecycle tags is the sandbox's placeholder.
    No Kubernetes cluster either: the in-cluster variables go and ``KUBECONFIG`` is empty,
    so only a kubeconfig named explicitly (a fake's) is ever read.
    """
    clouds = ("AWS_", "GOOGLE_", "CLOUDSDK_", "KUBERNETES_SERVICE_")
    env = {k: v for k, v in environ.items() if not k.startswith(clouds) and k != "KUBECONFIG"}
    env.update(
        # No Google credentials either: no gcloud config, and a metadata server that
        # refuses at once, so Application Default Credentials find nothing.
        CLOUDSDK_CONFIG=os.devnull,
        GCE_METADATA_HOST=_NO_METADATA,
        GCE_METADATA_IP=_NO_METADATA,
        AWS_ACCESS_KEY_ID=SANDBOX_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SANDBOX_SECRET,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        REAPER_STATE_KEY=SANDBOX_STATE_KEY,
        KUBECONFIG=os.devnull,
    )
    for name in ("NO_PROXY", "no_proxy"):
        current = [p for p in environ.get(name, "").split(",") if p]
        env[name] = ",".join([*current, *(n for n in LOOPBACK_NAMES if n not in current)])
    return env
