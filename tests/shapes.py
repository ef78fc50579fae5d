"""Other real API shapes built from the corpus: app instances of the public
``/apps/{app_id}/attestations`` endpoint, and the whole response of that endpoint.

Only the layout changes; the quote, event log and certificates are the corpus's, byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

from tests.corpus import Case


def app_instance(case: Case, *, style: str = "eventlog") -> dict[str, Any]:
    """``instances[i]`` for a corpus case: the quote top-level and the event log as ``eventlog``
    (a list; ``style="eventlog-string"``: a JSON string), or ``style="tcb_info"`` as the
    CvmAttestation's ``tcb_info`` with the quote only in the leaf certificate."""
    document: dict[str, Any] = json.loads(case.evidence)
    instance: dict[str, Any] = {}
    if "app_certificates" in document:
        leaf = document["app_certificates"][0]
        if style == "tcb_info":
            instance["tcb_info"] = document["tcb_info"]
        else:
            instance["quote"] = leaf["quote"]
            events = document["tcb_info"]["event_log"]
            instance["eventlog"] = json.dumps(events) if style == "eventlog-string" else events
        instance["app_certificates"] = document["app_certificates"]
        instance["compose_file"] = document["compose_file"]
    else:
        instance["quote"] = document["quote"]
        events = json.loads(document["event_log"])
        instance["eventlog"] = document["event_log"] if style == "eventlog-string" else events
        instance["compose_file"] = None
    instance["image_version"] = "dstack-0.5.3"
    instance["runtime_data"] = {"instance_id": f"instance-of-{case.name}"}
    return instance


def app_attestations(app_id: str, instances: list[dict[str, Any]]) -> dict[str, Any]:
    """The public endpoint's response around ``instances``."""
    return {
        "app_id": app_id,
        "contract_address": "0x" + app_id,
        "kms_info": {"version": "v0.5.3", "url": "https://kms.example", "kms_type": "phala"},
        "instances": instances,
    }


def stopped_instance() -> dict[str, Any]:
    """A stopped instance: no quote."""
    return {"quote": None, "eventlog": None, "image_version": "dstack-0.5.3", "compose_file": None}
