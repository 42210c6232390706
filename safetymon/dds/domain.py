"""Joining a DDS domain with Cyclone DDS, optionally confined to this host's loopback.

A Cyclone DDS domain is created once per process and domain id; participants made later in
the same process share it and its network configuration. With ``loopback_only`` the domain
is created here from ``LOOPBACK_CONFIG`` (interface ``lo``, no multicast, unicast discovery
of participants on 127.0.0.1), so that nothing beyond this host can take part; otherwise it
is created by Cyclone DDS from its own configuration (the ``CYCLONEDDS_URI`` environment
variable, default: every interface and multicast discovery).

Shared by the ``ros2`` robot-state input (``safetymon.robot``), the DDS safety output and its
receiver (``safetymon.signals``). Importing this module needs the ``cyclonedds`` package.
"""

from __future__ import annotations

import threading

from cyclonedds.domain import Domain, DomainParticipant

LOOPBACK_CONFIG = """<CycloneDDS><Domain id="any">
  <General>
    <Interfaces><NetworkInterface name="lo"/></Interfaces>
    <AllowMulticast>false</AllowMulticast>
  </General>
  <Discovery>
    <ParticipantIndex>auto</ParticipantIndex>
    <MaxAutoParticipantIndex>60</MaxAutoParticipantIndex>
    <Peers><Peer address="127.0.0.1"/></Peers>
  </Discovery>
</Domain></CycloneDDS>"""
"""Cyclone DDS configuration of a loopback-only domain (up to 60 participants on the host)."""

_lock = threading.Lock()
_domains: dict[int, tuple[bool, Domain | None]] = {}


def join_domain(domain_id: int, loopback_only: bool) -> DomainParticipant:
    """A new participant on ``domain_id``.

    Raises:
        ValueError: this process joined the domain before with the other ``loopback_only``.
        cyclonedds.core.DDSException: Cyclone DDS cannot create the domain or participant.
    """
    with _lock:
        known = _domains.get(domain_id)
        if known is not None and known[0] != loopback_only:
            raise ValueError(
                f"DDS domain {domain_id} is already joined with loopback_only={known[0]} in "
                "this process: every input and output on one domain must agree"
            )
        if known is None:
            domain = Domain(domain_id, LOOPBACK_CONFIG) if loopback_only else None
            _domains[domain_id] = (loopback_only, domain)  # kept: deleting it ends the domain
        return DomainParticipant(domain_id)
