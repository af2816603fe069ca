import datetime

from ecgnet.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecordStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORD_STATUS_UNSPECIFIED: _ClassVar[RecordStatus]
    RECORD_STATUS_QUEUED: _ClassVar[RecordStatus]
    RECORD_STATUS_CLAIMED: _ClassVar[RecordStatus]
    RECORD_STATUS_SIGNED: _ClassVar[RecordStatus]
RECORD_STATUS_UNSPECIFIED: RecordStatus
RECORD_STATUS_QUEUED: RecordStatus
RECORD_STATUS_CLAIMED: RecordStatus
RECORD_STATUS_SIGNED: RecordStatus

class QueueItem(_message.Message):
    __slots__ = ("record_id", "site_id", "county_id", "priority", "findings", "patient", "acquired_at", "received_at", "deadline", "status", "overdue", "claimed_by", "lease_expires_at")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTY_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    PATIENT_FIELD_NUMBER: _ClassVar[int]
    ACQUIRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_BY_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    site_id: str
    county_id: str
    priority: _common_pb2.Priority
    findings: _containers.RepeatedCompositeFieldContainer[_common_pb2.Finding]
    patient: _common_pb2.Patient
    acquired_at: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    status: RecordStatus
    overdue: bool
    claimed_by: str
    lease_expires_at: _timestamp_pb2.Timestamp
    def __init__(self, record_id: _Optional[str] = ..., site_id: _Optional[str] = ..., county_id: _Optional[str] = ..., priority: _Optional[_Union[_common_pb2.Priority, str]] = ..., findings: _Optional[_Iterable[_Union[_common_pb2.Finding, _Mapping]]] = ..., patient: _Optional[_Union[_common_pb2.Patient, _Mapping]] = ..., acquired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[RecordStatus, str]] = ..., overdue: _Optional[bool] = ..., claimed_by: _Optional[str] = ..., lease_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListQueueRequest(_message.Message):
    __slots__ = ("limit", "include_claimed")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CLAIMED_FIELD_NUMBER: _ClassVar[int]
    limit: int
    include_claimed: bool
    def __init__(self, limit: _Optional[int] = ..., include_claimed: _Optional[bool] = ...) -> None: ...

class ListQueueResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[QueueItem]
    def __init__(self, items: _Optional[_Iterable[_Union[QueueItem, _Mapping]]] = ...) -> None: ...

class ClaimRequest(_message.Message):
    __slots__ = ("record_id", "lease_seconds")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    lease_seconds: int
    def __init__(self, record_id: _Optional[str] = ..., lease_seconds: _Optional[int] = ...) -> None: ...

class ClaimResponse(_message.Message):
    __slots__ = ("item",)
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: QueueItem
    def __init__(self, item: _Optional[_Union[QueueItem, _Mapping]] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("record_id",)
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    def __init__(self, record_id: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRecordRequest(_message.Message):
    __slots__ = ("record_id",)
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    def __init__(self, record_id: _Optional[str] = ...) -> None: ...

class RecordDetail(_message.Message):
    __slots__ = ("item", "device_id", "waveform", "analysis_json", "reports", "previous_record_id")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    WAVEFORM_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_JSON_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    item: QueueItem
    device_id: str
    waveform: _common_pb2.Waveform
    analysis_json: str
    reports: _containers.RepeatedCompositeFieldContainer[_common_pb2.Report]
    previous_record_id: str
    def __init__(self, item: _Optional[_Union[QueueItem, _Mapping]] = ..., device_id: _Optional[str] = ..., waveform: _Optional[_Union[_common_pb2.Waveform, _Mapping]] = ..., analysis_json: _Optional[str] = ..., reports: _Optional[_Iterable[_Union[_common_pb2.Report, _Mapping]]] = ..., previous_record_id: _Optional[str] = ...) -> None: ...

class GetRecordResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: RecordDetail
    def __init__(self, record: _Optional[_Union[RecordDetail, _Mapping]] = ...) -> None: ...

class SignReportRequest(_message.Message):
    __slots__ = ("record_id", "findings", "free_text", "conclusion")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    FREE_TEXT_FIELD_NUMBER: _ClassVar[int]
    CONCLUSION_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    findings: _containers.RepeatedCompositeFieldContainer[_common_pb2.Finding]
    free_text: str
    conclusion: str
    def __init__(self, record_id: _Optional[str] = ..., findings: _Optional[_Iterable[_Union[_common_pb2.Finding, _Mapping]]] = ..., free_text: _Optional[str] = ..., conclusion: _Optional[str] = ...) -> None: ...

class SignReportResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _common_pb2.Report
    def __init__(self, report: _Optional[_Union[_common_pb2.Report, _Mapping]] = ...) -> None: ...

class AmendReportRequest(_message.Message):
    __slots__ = ("record_id", "base_version", "findings", "free_text", "conclusion", "reason")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    FREE_TEXT_FIELD_NUMBER: _ClassVar[int]
    CONCLUSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    base_version: int
    findings: _containers.RepeatedCompositeFieldContainer[_common_pb2.Finding]
    free_text: str
    conclusion: str
    reason: str
    def __init__(self, record_id: _Optional[str] = ..., base_version: _Optional[int] = ..., findings: _Optional[_Iterable[_Union[_common_pb2.Finding, _Mapping]]] = ..., free_text: _Optional[str] = ..., conclusion: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AmendReportResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _common_pb2.Report
    def __init__(self, report: _Optional[_Union[_common_pb2.Report, _Mapping]] = ...) -> None: ...
