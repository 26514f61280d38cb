"""``reaper iam-policy``: the IAM policy a config needs, generated from it.

The statements come from :mod:`reaper.providers.aws.iam_policy` (pure); this command loads
the config, calls it and writes the JSON document.
"""

from __future__ import annotations

import logging

import click

from reaper.cli.common import config_option, emit, exit_with, load
from reaper.results import ExitCode

log = logging.getLogger("reaper")


@click.command(name="iam-policy")
@config_option
@click.option(
    "--sweep-only",
    is_flag=True,
    help="Leave out what only `reaper release` needs (starting instances, attaching any "
    "security group): for a principal that only runs sweeps.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the policy to this file instead of standard output.",
)
def iam_policy(config_path: str, sweep_only: bool, output: str | None) -> None:
    """Print the least-privilege IAM policy for a config's AWS section.

    Made from the configured tag keys, kinds, regions, account roles and S3 audit sink;
    attach it to reaper's role in each swept account (and to the principal that assumes
    those roles). deploy/aws/iam-policy.json is its output for config.example.yaml.
    """
    settings, _ = load(config_path)
    if settings.providers.aws is None:
        click.echo(
            f"{config_path}: providers.aws is not configured; no IAM policy to make", err=True
        )
        exit_with(ExitCode.USAGE)
    # Imported here: it loads the AWS provider package (and boto3) only for this command.
    from reaper.providers.aws.iam_policy import MANAGED_POLICY_LIMIT, policy_document, render, size

    document = policy_document(settings, release=not sweep_only)
    if size(document) > MANAGED_POLICY_LIMIT:
        log.warning(
            "the policy has %d characters, more than a managed policy may (%d): attach it "
            "as an inline policy (up to 10,240)",
            size(document),
            MANAGED_POLICY_LIMIT,
        )
    emit(render(document), output)
