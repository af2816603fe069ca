import datetime

from ecgnet.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitRecordRequest(_message.Message):
    __slots__ = ("record_id", "site_id", "device_id", "acquired_at", "patient", "waveform", "priority", "findings", "analysis_json")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ACQUIRED_AT_FIELD_NUMBER: _ClassVar[int]
    PATIENT_FIELD_NUMBER: _ClassVar[int]
    WAVEFORM_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_JSON_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    site_id: str
    device_id: str
    acquired_at: _timestamp_pb2.Timestamp
    patient: _common_pb2.Patient
    waveform: _common_pb2.Waveform
    priority: _common_pb2.Priority
    findings: _containers.RepeatedCompositeFieldContainer[_common_pb2.Finding]
    analysis_json: str
    def __init__(self, record_id: _Optional[str] = ..., site_id: _Optional[str] = ..., device_id: _Optional[str] = ..., acquired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., patient: _Optional[_Union[_common_pb2.Patient, _Mapping]] = ..., waveform: _Optional[_Union[_common_pb2.Waveform, _Mapping]] = ..., priority: _Optional[_Union[_common_pb2.Priority, str]] = ..., findings: _Optional[_Iterable[_Union[_common_pb2.Finding, _Mapping]]] = ..., analysis_json: _Optional[str] = ...) -> None: ...

class SubmitRecordResponse(_message.Message):
    __slots__ = ("record_id", "duplicate", "received_at")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    duplicate: bool
    received_at: _timestamp_pb2.Timestamp
    def __init__(self, record_id: _Optional[str] = ..., duplicate: _Optional[bool] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
