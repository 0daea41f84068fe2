"""Blob leases: Lease Blob (``PUT <blob>?comp=lease``) and what a lease does to the other operations on a blob.

The semantics are Azure Blob Storage's (REST "Lease Blob", versions from 2012-02-12; the azure-storage-blob SDK's
``BlobLeaseClient`` sends them): ``x-ms-lease-action`` ``acquire`` (``x-ms-lease-duration`` -1 = infinite or 15..60
seconds, optional ``x-ms-proposed-lease-id``; 201), ``renew`` / ``release`` (``x-ms-lease-id``; 200), ``change``
(``x-ms-lease-id`` and ``x-ms-proposed-lease-id``; 200), ``break`` (optional ``x-ms-lease-break-period`` 0..60;
202 with ``x-ms-lease-time``). A lease is in one of five states -- ``available``, ``leased``, ``expired`` (a fixed
lease past its duration), ``breaking`` (broken with a period still running) and ``broken`` -- and the outcome of
each operation in each state follows the service's table: e.g. acquiring a lease someone else holds is 409
``LeaseAlreadyPresent``, renewing or releasing with another id 409 ``LeaseIdMismatchWithLeaseOperation``, any
operation but acquire on a blob without a lease 409 ``LeaseNotPresentWithLeaseOperation``; an expired lease can be
renewed by its holder until the blob is written or leased again.

Writes (Put Blob, Put Block, Put Block List, Set Blob Metadata, Delete Blob) on a blob whose lease is ``leased`` or
``breaking`` need its id in ``x-ms-lease-id``: none is 412 ``LeaseIdMissing``, another one 412
``LeaseIdMismatchWithBlobOperation``; an id on a blob without an active lease is 412
``LeaseNotPresentWithBlobOperation``; a write without an id to an expired or broken lease makes it ``available``.
Reads need no id (one given must match, as for writes).

Time: a lease lasts ``duration * scale`` real seconds, ``scale`` being the emulator's ``lease_time_scale`` when the
lease is acquired or renewed (1.0; a test sets it lower so that a 15 s lease -- the service's minimum -- ends in a
fraction of a second). States are worked out lazily, from the clock, whenever a blob is touched.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from typing import Optional

_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$")
ACTIVE = ("leased", "breaking")  # the states in which the blob is locked


class LeaseError(Exception):
    """A storage error: ``status``, ``code`` (``x-ms-error-code`` and ``<Code>``), ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _conflict(code: str) -> LeaseError:
    return LeaseError(409, code, _MESSAGES[code])


_MESSAGES = {
    "LeaseAlreadyPresent": "There is already a lease present.",
    "LeaseIdMismatchWithLeaseOperation": "The lease ID specified did not match the lease ID for the blob.",
    "LeaseNotPresentWithLeaseOperation": "There is currently no lease on the blob.",
    "LeaseIsBreakingAndCannotBeAcquired": "The lease ID matched, but the lease is currently in breaking state and "
                                          "cannot be acquired until it is broken.",
    "LeaseIsBrokenAndCannotBeRenewed": "The lease ID matched, but the lease has been broken explicitly and cannot "
                                       "be renewed.",
    "LeaseIsBreakingAndCannotBeChanged": "The lease ID matched, but the lease is currently in breaking state and "
                                         "cannot be changed.",
    "LeaseIdMissing": "There is currently a lease on the blob and no lease ID was specified in the request.",
    "LeaseIdMismatchWithBlobOperation": "The lease ID specified did not match the lease ID for the blob.",
    "LeaseNotPresentWithBlobOperation": "There is currently no lease on the blob.",
}


def _invalid(header: str, value: str) -> LeaseError:
    return LeaseError(400, "InvalidHeaderValue", f"The value for one of the HTTP headers is not in the correct "
                      f"format. HeaderName: {header} HeaderValue: {value}")


def _missing(header: str) -> LeaseError:
    return LeaseError(400, "MissingRequiredHeader", f"An HTTP header that's mandatory for this request is not "
                      f"specified. HeaderName: {header}")


# ------------------------------------------------------------------------------------------------------ state
def current(rec: dict, now: Optional[float] = None) -> dict:
    """The blob's lease as it stands at ``now`` (a fixed lease past its end is ``expired``, a break whose period
    ran out ``broken``); the record is updated in place. ``{"state": "available"}`` without a lease."""
    lease = rec.get("lease") or {"state": "available"}
    now = time.time() if now is None else now
    if lease["state"] == "leased" and lease.get("expires") is not None and now >= lease["expires"]:
        lease = {**lease, "state": "expired", "expires": None}
    elif lease["state"] == "breaking" and now >= lease["break_at"]:
        lease = {**lease, "state": "broken", "break_at": None}
    if lease["state"] == "available":
        rec.pop("lease", None)
    else:
        rec["lease"] = lease
    return lease


def property_headers(rec: dict) -> dict:
    """``x-ms-lease-status``/``-state`` (and ``-duration`` while leased) for Get Blob / Get Blob Properties."""
    lease = current(rec)
    headers = {"x-ms-lease-status": "locked" if lease["state"] in ACTIVE else "unlocked",
               "x-ms-lease-state": lease["state"]}
    if lease["state"] == "leased":
        headers["x-ms-lease-duration"] = "infinite" if lease.get("expires") is None else "fixed"
    return headers


def list_properties(rec: dict) -> str:
    """The lease elements of a blob in a List Blobs answer."""
    h = property_headers(rec)
    xml = f"<LeaseStatus>{h['x-ms-lease-status']}</LeaseStatus><LeaseState>{h['x-ms-lease-state']}</LeaseState>"
    if "x-ms-lease-duration" in h:
        xml += f"<LeaseDuration>{h['x-ms-lease-duration']}</LeaseDuration>"
    return xml


def check_access(rec: Optional[dict], headers: dict, *, write: bool) -> None:
    """Raise the 412 a read or write gets on this blob's lease; a write without an id ends an expired or broken
    lease (``available``)."""
    given = headers.get("x-ms-lease-id")
    lease = current(rec) if rec is not None else {"state": "available"}
    if lease["state"] in ACTIVE:
        if not given:
            if write:
                raise LeaseError(412, "LeaseIdMissing", _MESSAGES["LeaseIdMissing"])
            return
        if given.lower() != lease["id"].lower():
            raise LeaseError(412, "LeaseIdMismatchWithBlobOperation", _MESSAGES["LeaseIdMismatchWithBlobOperation"])
        return
    if given:
        raise LeaseError(412, "LeaseNotPresentWithBlobOperation", _MESSAGES["LeaseNotPresentWithBlobOperation"])
    if write and rec is not None:
        rec.pop("lease", None)


def carry(old: Optional[dict], new: dict) -> dict:
    """A blob rewritten by its lease holder keeps its lease (Put Blob / Put Block List replace the record)."""
    if old is not None and old.get("lease", {}).get("state") in ACTIVE:
        new["lease"] = old["lease"]
    return new


# ------------------------------------------------------------------------------------------------- Lease Blob
def operate(rec: dict, headers: dict, scale: float = 1.0, now: Optional[float] = None) -> tuple[int, dict]:
    """Apply the Lease Blob request with these (lower-case) headers to the blob's record: (status, the lease
    headers of the answer). Raises ``LeaseError``."""
    now = time.time() if now is None else now
    action = headers.get("x-ms-lease-action")
    if not action:
        raise _missing("x-ms-lease-action")
    handler = _ACTIONS.get(action.lower())
    if handler is None:
        raise _invalid("x-ms-lease-action", action)
    lease = current(rec, now)
    return handler(rec, lease, headers, now, scale)


def _same(lease: dict, lease_id: Optional[str]) -> bool:
    return bool(lease_id) and lease.get("id", "").lower() == str(lease_id).lower()


def _lease_id(headers: dict, name: str = "x-ms-lease-id") -> str:
    value = headers.get(name)
    if not value:
        raise _missing(name)
    if not _GUID.match(value):
        raise _invalid(name, value)
    return value


def _acquire(rec: dict, lease: dict, headers: dict, now: float, scale: float) -> tuple[int, dict]:
    raw = headers.get("x-ms-lease-duration")
    if raw is None:
        raise _missing("x-ms-lease-duration")
    try:
        duration = int(raw)
    except ValueError:
        raise _invalid("x-ms-lease-duration", raw) from None
    if duration != -1 and not 15 <= duration <= 60:
        raise _invalid("x-ms-lease-duration", raw)
    proposed = headers.get("x-ms-proposed-lease-id")
    if proposed is not None and not _GUID.match(proposed):
        raise _invalid("x-ms-proposed-lease-id", proposed)
    state = lease["state"]
    if state == "leased" and not _same(lease, proposed):
        raise _conflict("LeaseAlreadyPresent")
    if state == "breaking":
        raise _conflict("LeaseIsBreakingAndCannotBeAcquired" if _same(lease, proposed) else "LeaseAlreadyPresent")
    lease_id = proposed or str(uuid.uuid4())
    rec["lease"] = {"id": lease_id, "state": "leased", "duration": duration,
                    "expires": None if duration == -1 else now + duration * scale, "break_at": None}
    return 201, {"x-ms-lease-id": lease_id}


def _renew(rec: dict, lease: dict, headers: dict, now: float, scale: float) -> tuple[int, dict]:
    lease_id = _lease_id(headers)
    state = lease["state"]
    if state == "available":
        raise _conflict("LeaseNotPresentWithLeaseOperation")
    if not _same(lease, lease_id):
        raise _conflict("LeaseIdMismatchWithLeaseOperation")
    if state in ("breaking", "broken"):
        raise _conflict("LeaseIsBrokenAndCannotBeRenewed")
    duration = lease["duration"]  # leased, or expired and neither written nor leased again since
    rec["lease"] = {**lease, "state": "leased", "expires": None if duration == -1 else now + duration * scale}
    return 200, {"x-ms-lease-id": lease["id"]}


def _change(rec: dict, lease: dict, headers: dict, now: float, scale: float) -> tuple[int, dict]:
    lease_id, proposed = _lease_id(headers), _lease_id(headers, "x-ms-proposed-lease-id")
    state = lease["state"]
    if state in ("available", "expired", "broken"):
        raise _conflict("LeaseNotPresentWithLeaseOperation")
    if state == "breaking":
        raise _conflict("LeaseIsBreakingAndCannotBeChanged" if _same(lease, lease_id)
                        else "LeaseIdMismatchWithLeaseOperation")
    if not (_same(lease, lease_id) or _same(lease, proposed)):
        raise _conflict("LeaseIdMismatchWithLeaseOperation")
    rec["lease"] = {**lease, "id": proposed}
    return 200, {"x-ms-lease-id": proposed}


def _release(rec: dict, lease: dict, headers: dict, now: float, scale: float) -> tuple[int, dict]:
    lease_id = _lease_id(headers)
    if lease["state"] == "available":
        raise _conflict("LeaseNotPresentWithLeaseOperation")
    if not _same(lease, lease_id):
        raise _conflict("LeaseIdMismatchWithLeaseOperation")
    rec.pop("lease", None)
    return 200, {}


def _break(rec: dict, lease: dict, headers: dict, now: float, scale: float) -> tuple[int, dict]:
    raw = headers.get("x-ms-lease-break-period")
    period: Optional[int] = None
    if raw is not None:
        try:
            period = int(raw)
        except ValueError:
            raise _invalid("x-ms-lease-break-period", raw) from None
        if not 0 <= period <= 60:
            raise _invalid("x-ms-lease-break-period", raw)
    state = lease["state"]
    if state == "available":
        raise _conflict("LeaseNotPresentWithLeaseOperation")
    end: Optional[float] = None  # when the lease is broken; None = now
    if state == "leased":
        if period is None:  # a fixed lease breaks when it would have ended, an infinite one at once
            end = lease.get("expires")
        elif period > 0:
            end = now + period * scale
            if lease.get("expires") is not None:
                end = min(end, lease["expires"])
    elif state == "breaking":
        end = lease["break_at"] if period is None else (min(lease["break_at"], now + period * scale) if period else None)
    if end is None or end <= now:
        rec["lease"] = {**lease, "state": "broken", "expires": None, "break_at": None}
        return 202, {"x-ms-lease-time": "0"}
    rec["lease"] = {**lease, "state": "breaking", "expires": None, "break_at": end}
    return 202, {"x-ms-lease-time": str(math.ceil((end - now) / scale))}


_ACTIONS = {"acquire": _acquire, "renew": _renew, "change": _change, "release": _release, "break": _break}
