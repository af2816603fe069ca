"""Authorization: the role matrix (pure; enforced by ``central_reader.service``).

Authorization matrix (``-`` = PERMISSION_DENIED; scopes: records outside the caller's
county answer NOT_FOUND, so their existence is not revealed)::

    action              device            cardiologist     hospital        admin
    submit              own site(s)       -                -               -
    list_queue          -                 own county       -               own county / all
    claim               -                 own county       -               -
    release             -                 own claim        -               any claim (force)
    get_record (view)   -                 own county       own county      own county / all
    sign / amend        -                 own county       -               -
    subscribe_reports   own site(s)       county sites     county sites    county / all

A device bound to a site may submit (as itself: ``device_id`` = its user id) and subscribe
for that site only; a device without a site is a county gateway (any site of its county,
any cart ``device_id``). An admin without a county is global.
"""

from __future__ import annotations

from enum import StrEnum

from central_reader.types import Role

__all__ = ["Action", "allowed_roles"]


class Action(StrEnum):
    SUBMIT = "submit"
    LIST_QUEUE = "list_queue"
    CLAIM = "claim"
    RELEASE = "release"
    VIEW_RECORD = "view_record"
    SIGN = "sign"
    AMEND = "amend"
    SUBSCRIBE_REPORTS = "subscribe_reports"


_MATRIX: dict[Action, frozenset[Role]] = {
    Action.SUBMIT: frozenset({Role.DEVICE}),
    Action.LIST_QUEUE: frozenset({Role.CARDIOLOGIST, Role.ADMIN}),
    Action.CLAIM: frozenset({Role.CARDIOLOGIST}),
    Action.RELEASE: frozenset({Role.CARDIOLOGIST, Role.ADMIN}),
    Action.VIEW_RECORD: frozenset({Role.CARDIOLOGIST, Role.HOSPITAL, Role.ADMIN}),
    Action.SIGN: frozenset({Role.CARDIOLOGIST}),
    Action.AMEND: frozenset({Role.CARDIOLOGIST}),
    Action.SUBSCRIBE_REPORTS: frozenset(Role),
}


def allowed_roles(action: Action) -> frozenset[Role]:
    """Roles that may perform an action (scope checks come on top)."""
    return _MATRIX[action]
