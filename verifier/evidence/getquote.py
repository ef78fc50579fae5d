"""dstack guest-agent ``GetQuote`` response: ``{quote, event_log, report_data, vm_config?}``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

from .phala import EventLogEntry, json_list_or_list


class GetQuoteResponse(BaseModel):
    """The object dstack's ``GetQuote`` RPC (and the SDKs' ``get_quote()``) returns.

    ``event_log`` is normally a JSON *string* holding the list; a list is accepted too.
    ``report_data`` and ``vm_config`` are unsigned repetitions or claims and are not trusted.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    quote: str
    event_log: tuple[EventLogEntry, ...] = ()
    report_data: str | None = None
    vm_config: str | None = None

    _event_log_string = field_validator("event_log", mode="before")(json_list_or_list)
