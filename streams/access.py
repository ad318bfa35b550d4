"""The broker's users and ACLs, as ``admin``: what ``schakel kafka users|acls`` and ``schakel kafka up`` do.

The grants themselves come from the topic layout (:func:`schakel.streams.topics.access_grants`); this module only
writes them to the broker and reads them back. kafka-python's admin client reports most failures in return values
rather than raising: every one is checked here and turned into an :class:`AccessError` (naming the user or grant,
never a password).

Judgement calls:

- ``apply`` only adds. A grant the layout no longer names is shown by ``schakel kafka acls show`` as *extra* but
  not deleted: removing access from a running component is an operator's decision, not a side effect.
- A password is set only for a principal that has none (``ensure_users``); ``users add`` of an existing user
  replaces its password (a rotation). Kafka has no "set unless present" for SCRAM credentials: two processes
  ensuring a new user at once both found it missing and both set their password - the second silently replaced
  the first's, and both reported it added. So ``ensure_users`` (and ``users add`` when it writes a password file)
  holds :func:`users_lock`, an flock on the credentials directory, from looking to setting: the processes of a
  machine that hand out passwords from one directory take turns. *Limit*: processes on different machines with
  their own credentials directories are not serialised; they must not ensure the same new user at once.
- ``add_user`` says which of three states a failure left: refused (:class:`AccessError`: nothing changed), accepted
  but not confirmed enforced in time (:class:`NotInForceError`: the broker has the new password, or will in a
  moment), or unknown (:class:`UnconfirmedChangeError`: the connection failed after the request was sent). ``schakel
  kafka users add`` writes the password file in the second state and not in the other two, and says so.
- A Kafka client error (the broker unreachable, a request timed out) becomes an :class:`AccessError` too.
- A change is done when the broker *enforces* it, not when the controller accepted it. In KRaft the controller
  commits a new ACL or SCRAM credential and answers; each broker applies it when it has read the metadata log, a
  moment later (seconds on a loaded machine). A client that connected in between was refused: the demo's connectors
  once failed with "egress ... not authorized" right after ``provision``. So ``apply_grants``, ``add_user`` and
  ``ensure_users`` return only once the broker lists what they added (DescribeAcls and DescribeUserScramCredentials
  are answered from the broker's own view, the one it authorizes with), or raise :class:`AccessError` after
  ``_IN_FORCE_WITHIN`` seconds. On a cluster the listing comes from one broker; the others follow within moments.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from schakel.errors import SchakelError
from schakel.settings import Settings
from schakel.streams.topics import ADMIN, Grant, HubTopics, access_grants

if TYPE_CHECKING:
    from kafka import KafkaAdminClient

__all__ = [
    "AccessError",
    "AccessReport",
    "NotInForceError",
    "UnconfirmedChangeError",
    "add_user",
    "apply_grants",
    "ensure_users",
    "list_users",
    "provision",
    "remove_user",
    "revoke_grants",
    "show_grants",
    "users_lock",
]

_MECHANISM = "SCRAM-SHA-512"
_ITERATIONS = 8192
_IN_FORCE_WITHIN = 60.0
"""Seconds the broker may take to enforce an ACL or a password the controller accepted (see the module's notes)."""


class AccessError(SchakelError):
    """The broker refused or failed a change to its users or ACLs."""


class NotInForceError(AccessError):
    """The broker accepted a change but did not show it enforced within ``_IN_FORCE_WITHIN`` seconds."""


class UnconfirmedChangeError(AccessError):
    """The request for a change was sent and the connection failed before an answer: it may or may not be made."""


@dataclass(frozen=True)
class AccessReport:
    """What ``acls apply`` did, or what ``acls show`` found, for one topic prefix."""

    added: tuple[Grant, ...] = ()
    present: tuple[Grant, ...] = ()
    missing: tuple[Grant, ...] = ()
    extra: tuple[Grant, ...] = ()


@contextmanager
def _admin(settings: Settings, client_id: str = "schakel-access") -> Iterator[KafkaAdminClient]:
    """An admin client; a Kafka client error in the block (the broker unreachable, a timeout) is an AccessError."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(**settings.kafka_client_config(ADMIN), client_id=client_id)
    except KafkaError as error:
        raise AccessError(
            f"cannot reach the broker at {settings.kafka_bootstrap} as {ADMIN}: {type(error).__name__}"
        ) from error
    try:
        yield admin
    except KafkaError as error:
        raise AccessError(f"the broker did not answer: {type(error).__name__}") from error
    finally:
        admin.close()


def _acl(grant: Grant) -> Any:
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    return ACL(
        principal=f"User:{grant.principal}",
        host="*",
        operation=ACLOperation[grant.operation],
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(
            ResourceType[grant.resource],
            grant.name,
            ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL,
        ),
    )


def _grant(acl: Any) -> Grant | None:
    """The grant an ACL on the broker expresses; None for what schakel never writes (DENY, hosts, other types)."""
    principal = str(acl.principal)
    if not principal.startswith("User:") or acl.host != "*" or acl.permission_type.name != "ALLOW":
        return None
    pattern = acl.resource_pattern
    if pattern.resource_type.name not in ("TOPIC", "GROUP") or acl.operation.name not in (
        "READ",
        "WRITE",
        "CREATE",
        "DESCRIBE",
        "ALTER_CONFIGS",
        "DELETE",
        "ALL",
    ):
        return None
    return Grant(
        principal.removeprefix("User:"),
        pattern.resource_type.name,
        pattern.resource_name,
        acl.operation.name,
        prefixed=pattern.pattern_type.name == "PREFIXED",
    )


def _on_broker(admin: KafkaAdminClient) -> set[Grant]:
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )
    from kafka.errors import NoError

    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    acls, error = admin.describe_acls(everything)
    if error is not NoError:
        raise AccessError(f"the broker did not list its ACLs: {error.__name__}")
    return {grant for grant in map(_grant, acls) if grant is not None}


def _compare(settings: Settings, admin: KafkaAdminClient) -> tuple[list[Grant], list[Grant], list[Grant]]:
    """(wanted and present, wanted and missing, present but not wanted) for the settings' prefix."""
    topics = HubTopics.of(settings)
    wanted = sorted(set(access_grants(topics)))
    on_broker = _on_broker(admin)
    ours = {grant for grant in on_broker if _under(topics, grant)}
    present = [grant for grant in wanted if grant in on_broker]
    missing = [grant for grant in wanted if grant not in on_broker]
    extra = sorted(ours - set(wanted))
    return present, missing, extra


def _until_in_force(missing: Callable[[], set[str]], what: str) -> None:
    """Poll ``missing`` (what the broker does not list yet) until it is empty, or raise after ``_IN_FORCE_WITHIN``."""
    deadline = time.monotonic() + _IN_FORCE_WITHIN
    pause = 0.05
    while left := missing():
        if time.monotonic() >= deadline:
            raise AccessError(
                f"the broker accepted {what} but did not enforce {len(left)} of them within {_IN_FORCE_WITHIN:.0f} s "
                f"(first: {sorted(left)[0]})"
            )
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def show_grants(settings: Settings) -> AccessReport:
    """The grants for the settings' topic prefix: present, missing and extra (on names under the prefix)."""
    with _admin(settings) as admin:
        present, missing, extra = _compare(settings, admin)
    return AccessReport(present=tuple(present), missing=tuple(missing), extra=tuple(extra))


def apply_grants(settings: Settings) -> AccessReport:
    """Add the grants the topic layout names for the settings' prefix and the broker lacks (idempotent)."""
    with _admin(settings) as admin:
        present, missing, extra = _compare(settings, admin)
        if missing:
            result = admin.create_acls([_acl(grant) for grant in missing])
            failed = result.get("failed") or []
            if failed:
                raise AccessError(f"the broker refused {len(failed)} of {len(missing)} ACLs: {failed[0]!r}")
            added = set(missing)
            _until_in_force(lambda: {str(grant) for grant in added - _on_broker(admin)}, "the ACLs")
    return AccessReport(added=tuple(missing), present=tuple(present), extra=tuple(extra))


def _under(topics: HubTopics, grant: Grant) -> bool:
    """True for a grant on a name of this prefix (``<prefix>...`` topics, ``<prefix minus dot>-...`` groups)."""
    return grant.name.startswith(topics.prefix) or grant.name.startswith(topics.prefix.rstrip(".") + "-")


def revoke_grants(settings: Settings) -> int:
    """Delete the grants the topic layout names for the settings' prefix (a test's or a retired hub's); return how
    many the broker deleted. A grant on a name outside the prefix (the lineage store's group) is shared with other
    prefixes and stays."""
    from kafka.admin import ACLFilter
    from kafka.errors import NoError

    topics = HubTopics.of(settings)
    filters = []
    for grant in (grant for grant in access_grants(topics) if _under(topics, grant)):
        acl = _acl(grant)
        filters.append(ACLFilter(acl.principal, acl.host, acl.operation, acl.permission_type, acl.resource_pattern))
    with _admin(settings) as admin:
        results = admin.delete_acls(filters)
    failed = [error for _, _, error in results if error is not NoError]
    if failed:
        raise AccessError(f"the broker refused to delete {len(failed)} of {len(filters)} ACLs: {failed[0].__name__}")
    return sum(len(matched) for _, matched, _ in results)


def _known_users(admin: KafkaAdminClient) -> set[str]:
    described = admin.describe_user_scram_credentials()
    return {user for user, info in described.items() if info.get("credential_infos")}


def _check(said: dict[str, str | None], action: str) -> None:
    failures = {user: error for user, error in said.items() if error}
    if failures:
        user, error = next(iter(failures.items()))
        raise AccessError(f"the broker refused to {action} SCRAM credentials of {user!r}: {error}")


def add_user(settings: Settings, name: str, password: str) -> None:
    """Set ``name``'s SCRAM-SHA-512 password (a new user, or a rotation). Raises :class:`AccessError` when the broker
    refused it or could not be reached (nothing changed), :class:`UnconfirmedChangeError` when the connection failed
    after the request was sent, :class:`NotInForceError` when the broker accepted it but did not confirm it in time."""
    from kafka.admin import UserScramCredentialUpsertion
    from kafka.errors import KafkaError

    with _admin(settings) as admin:
        try:
            said = admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(name, _MECHANISM, password, iterations=_ITERATIONS)]
            )
        except KafkaError as error:
            raise UnconfirmedChangeError(
                f"the request to set the password of {name!r} was sent but not answered ({type(error).__name__}): "
                "the broker may or may not have the new password"
            ) from error
        _check(said, "set")
        try:
            _until_in_force(lambda: {name} - _known_users(admin), "the password")
        except (AccessError, KafkaError) as error:
            reason = str(error) if isinstance(error, AccessError) else type(error).__name__
            raise NotInForceError(
                f"the broker accepted the password of {name!r} but did not confirm enforcing it ({reason})"
            ) from error


def remove_user(settings: Settings, name: str) -> bool:
    """Remove ``name``'s SCRAM credentials; False when it had none."""
    from kafka.admin import UserScramCredentialDeletion

    if name not in list_users(settings):
        return False
    with _admin(settings) as admin:
        said = admin.alter_user_scram_credentials([UserScramCredentialDeletion(name, _MECHANISM)])
    _check(said, "remove")
    return True


def list_users(settings: Settings) -> list[str]:
    """The users with SCRAM credentials on the broker."""
    with _admin(settings) as admin:
        return sorted(_known_users(admin))


@contextmanager
def users_lock(settings: Settings) -> Iterator[None]:
    """Held while users are looked up and set from the settings' credentials directory (see the module's notes)."""
    import fcntl

    directory = settings.kafka_credentials_path
    try:  # the directory itself is locked: no lock file among the passwords, and a read-only directory will do
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise AccessError(f"cannot lock the credentials directory {directory}: {error.strerror}") from error
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def ensure_users(admin_settings: Settings, passwords: Iterable[tuple[str, str]]) -> list[str]:
    """Give every (name, password) that has no SCRAM credentials on the broker its password; return those added.
    Holds :func:`users_lock`: of processes ensuring the same new user at once, one sets its password, the others
    find it present."""
    from kafka.admin import UserScramCredentialUpsertion

    wanted = dict(passwords)
    with users_lock(admin_settings), _admin(admin_settings) as admin:
        new = sorted(set(wanted) - _known_users(admin))
        if new:
            said = admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(name, _MECHANISM, wanted[name], iterations=_ITERATIONS) for name in new]
            )
            _check(said, "set")
            _until_in_force(lambda: set(new) - _known_users(admin), "the passwords")
    return new


def provision(settings: Settings, names: list[str] | None = None) -> list[str]:
    """As admin: create the hub's topics (or ``names``) that are missing and add the ACLs of the settings' prefix;
    return the topics created. What an operator does before the components start (tests and the demo too)."""
    from schakel.streams.topics import create_topics

    created = create_topics(settings, names, principal=ADMIN)
    if settings.kafka_protocol.startswith("SASL_"):
        apply_grants(settings)
    return created
