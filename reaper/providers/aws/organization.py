"""The accounts of an AWS organization: listed with the Organizations API, named, merged.

:func:`discover` asks Organizations which accounts are active: ``ListAccounts`` for the
whole organization, or ``ListAccountsForParent`` for each root or OU of the ``include_ous``
subtrees. The subtrees are walked with ``ListOrganizationalUnitsForParent`` by
:func:`~reaper.providers.discovery.walk`, each OU asked once however many roots reach it;
``exclude_ous`` subtrees are walked for their OUs only (exclusion wins), and listed for
accounts only to subtract them from a ``ListAccounts``. It leaves out the management
account and the excluded ones, and returns the rest as ``AwsAccount``\\ s that assume
``arn:<partition>:iam::<id>:role/<role_name>`` (``arn:aws:iam::…`` outside China and
GovCloud).

An account found is named by its 12-digit id, already a valid reaper name: its identity
(report rows, audit records, metrics, shard keys, the scope its lifecycle tags are signed
for) never changes when its display name does. The display names are logged for the
humans reading the logs: those of accounts new to the process, and any that changed.
:func:`merge_accounts`, :func:`role_account_id` and :func:`select` are pure.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from reaper.config import AwsAccount, AwsOrganization
from reaper.providers.aws.errors import translate_errors
from reaper.providers.discovery import walk

log = logging.getLogger(__name__)

_SHOWN = 20
"""How many new accounts' display names one log line shows."""
_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")


@dataclass(frozen=True)
class OrgAccount:
    """One account as Organizations lists it."""

    id: str
    name: str
    """Its display name, for logs only: it may change any time."""
    active: bool


def role_account_id(role_arn: str | None) -> str | None:
    """The account id in a role ARN, or None. Pure."""
    match = _ROLE_ACCOUNT.match(role_arn or "")
    return match[1] if match else None


def merge_accounts(
    named: Sequence[AwsAccount], found: Iterable[AwsAccount]
) -> tuple[AwsAccount, ...]:
    """The accounts named by hand, then the organization's that they do not name. Pure.

    An organization account is left out when a named account assumes a role in the same
    account id, or already has its name (its id: an account named by hand with the id
    of an account is taken for that account, reached as configured): the account named
    by hand wins, with its name and its role.
    """
    ids = {role_account_id(a.role_arn) for a in named} - {None}
    names = {a.name for a in named}
    merged = list(named)
    for account in found:
        if role_account_id(account.role_arn) in ids or account.name in names:
            continue
        ids.add(role_account_id(account.role_arn))
        names.add(account.name)
        merged.append(account)
    return tuple(merged)


def select(
    accounts: Iterable[OrgAccount],
    settings: AwsOrganization,
    management_id: str,
    excluded_by_ou: set[str],
    partition: str = "aws",
) -> list[AwsAccount]:
    """The accounts to sweep, sorted by id, named by id, as roles to assume. Pure.

    Active ones only; never the management account (name it in ``accounts`` to sweep it),
    nor an id in ``exclude_accounts`` or ``excluded_by_ou``. The roles are in
    ``partition`` (``aws``, ``aws-cn``, ``aws-us-gov``), the organization's.
    """
    skip = {management_id, *settings.exclude_accounts, *excluded_by_ou}
    chosen = {a.id: a for a in accounts if a.active and a.id not in skip}
    return [
        AwsAccount(
            name=a.id,
            role_arn=f"arn:{partition}:iam::{a.id}:role/{settings.role_name}",
        )
        for a in sorted(chosen.values(), key=lambda a: a.id)
    ]


def discover(
    client: Any, settings: AwsOrganization, display_names: MutableMapping[str, str] | None = None
) -> list[AwsAccount]:
    """The organization's accounts to sweep. ``client`` is an Organizations client.

    ``display_names`` (account id -> display name, kept by the caller between listings) is
    updated, and each account to sweep that it did not know, or knew by another display
    name, is logged at INFO with its display name. Raises ProviderError when the organization cannot
    be read.
    """
    with translate_errors("organizations DescribeOrganization"):
        management = str(client.describe_organization()["Organization"]["MasterAccountId"])
    tree = walk(settings.include_ous, partial(_child_ous, client), settings.exclude_ous)
    excluded: set[str] = set()
    if settings.include_ous:
        # An account has one parent: those of excluded OUs are never among these.
        listed = [a for parent in tree.nodes for a in _accounts_of(client, parent)]
    else:
        with translate_errors("organizations ListAccounts"):
            pages = client.get_paginator("list_accounts").paginate()
            listed = [_account(a) for page in pages for a in page["Accounts"]]
        excluded = {a.id for parent in tree.excluded for a in _accounts_of(client, parent)}
    partition = str(getattr(client.meta, "partition", "aws"))
    chosen = select(listed, settings, management, excluded, partition)
    if display_names is not None:
        _log_display_names(listed, {a.name for a in chosen}, display_names)
    return chosen


def _log_display_names(
    listed: Iterable[OrgAccount], chosen: set[str], known: MutableMapping[str, str]
) -> None:
    """Log the display names of the ``chosen`` accounts ``known`` lacks (one line, the first
    ``_SHOWN`` of them) or knows by another name (a line each), and remember them."""
    new: list[str] = []
    for account in listed:
        before = known.get(account.id)
        if account.id not in chosen or before == account.name:
            continue
        known[account.id] = account.name
        if before is None:
            new.append(f"{account.id} {account.name!r}")
        else:
            log.info(
                "organization account %s is now named %r (was %r); its reaper name is unchanged",
                account.id,
                account.name,
                before,
            )
    if new:
        more = f" and {len(new) - _SHOWN} more" if len(new) > _SHOWN else ""
        log.info("organization accounts found: %s%s", ", ".join(new[:_SHOWN]), more)


def _child_ous(client: Any, parent: str) -> list[str]:
    """The OUs directly under ``parent`` (a root or an OU)."""
    with translate_errors(f"organizations ListOrganizationalUnitsForParent {parent}"):
        pages = client.get_paginator("list_organizational_units_for_parent").paginate(
            ParentId=parent
        )
        return [str(ou["Id"]) for page in pages for ou in page["OrganizationalUnits"]]


def _accounts_of(client: Any, parent: str) -> list[OrgAccount]:
    """The accounts directly under ``parent`` (a root or an OU)."""
    with translate_errors(f"organizations ListAccountsForParent {parent}"):
        pages = client.get_paginator("list_accounts_for_parent").paginate(ParentId=parent)
        return [_account(a) for page in pages for a in page["Accounts"]]


def _account(raw: dict[str, Any]) -> OrgAccount:
    # ``State`` replaces the deprecated ``Status``; either says ACTIVE for a live account.
    state = raw.get("State") or raw.get("Status")
    return OrgAccount(str(raw["Id"]), str(raw.get("Name", "")), state == "ACTIVE")
