"""Binding the app to the measurement: compose hash, MRCONFIGID, compose file consistency."""

from __future__ import annotations

import hashlib

from .findings import Finding

MR_CONFIG_ID_V1 = 0x01


def check_compose_hash(compose: bytes | None, measured: bytes | None) -> Finding:
    """``compose_hash``: SHA-256 of the exact compose bytes is the compose-hash event payload."""
    if compose is None:
        return Finding.skipped(
            "compose_hash",
            "no compose text is available to hash",
            expected=measured.hex() if measured is not None else None,
        )
    digest = hashlib.sha256(compose).hexdigest()
    if measured is None:
        return Finding.failed(
            "compose_hash",
            "the event log has no compose-hash event",
            expected="a compose-hash event",
            actual=digest,
        )
    if digest != measured.hex():
        return Finding.failed(
            "compose_hash",
            "the compose text is not the one measured in RTMR3",
            expected=measured.hex(),
            actual=digest,
        )
    return Finding.passed(
        "compose_hash",
        "sha256 of the compose text is the compose-hash event",
        expected=measured.hex(),
        actual=digest,
    )


def check_compose_texts(texts: dict[str, bytes]) -> Finding:
    """``compose_file``: every compose text the evidence (and user) gives is the same."""
    if len(texts) < 2:
        return Finding.skipped("compose_file", "fewer than two compose texts to compare")
    names = list(texts)
    first = names[0]
    for other in names[1:]:
        if texts[other] != texts[first]:
            return Finding.failed(
                "compose_file",
                f"{other} is not {first}",
                expected=hashlib.sha256(texts[first]).hexdigest(),
                actual=hashlib.sha256(texts[other]).hexdigest(),
            )
    return Finding.passed("compose_file", f"{' and '.join(names)} are identical")


def check_mr_config_id(mr_config_id: bytes, measured_compose_hash: bytes | None) -> Finding:
    """``mr_config_id``: zero, or v1 = 0x01 || compose-hash || zeros (dstack >= 0.5)."""
    if not any(mr_config_id):
        return Finding.skipped("mr_config_id", "MRCONFIGID is zero: no second binding")
    if mr_config_id[0] != MR_CONFIG_ID_V1:
        return Finding.failed(
            "mr_config_id",
            f"unknown MRCONFIGID format 0x{mr_config_id[0]:02x}",
            expected="zero or 01 || compose-hash || zeros",
            actual=mr_config_id.hex(),
        )
    if measured_compose_hash is None:
        return Finding.failed(
            "mr_config_id",
            "MRCONFIGID binds a compose hash but the event log has no compose-hash event",
            actual=mr_config_id.hex(),
        )
    expected = bytes([MR_CONFIG_ID_V1]) + measured_compose_hash
    expected += (
        bytes(len(mr_config_id) - len(expected)) if len(expected) < len(mr_config_id) else b""
    )
    if mr_config_id != expected:
        return Finding.failed(
            "mr_config_id",
            "MRCONFIGID does not bind the compose-hash event",
            expected=expected.hex(),
            actual=mr_config_id.hex(),
        )
    return Finding.passed(
        "mr_config_id", "MRCONFIGID = 01 || compose-hash || zeros", actual=mr_config_id.hex()
    )
