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

class AlertEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_EVENT_KIND_UNSPECIFIED: _ClassVar[AlertEventKind]
    ALERT_EVENT_KIND_RAISED: _ClassVar[AlertEventKind]
    ALERT_EVENT_KIND_UNACKNOWLEDGED: _ClassVar[AlertEventKind]
    ALERT_EVENT_KIND_RESENT: _ClassVar[AlertEventKind]
    ALERT_EVENT_KIND_ESCALATED: _ClassVar[AlertEventKind]
    ALERT_EVENT_KIND_ACKNOWLEDGED: _ClassVar[AlertEventKind]
    ALERT_EVENT_KIND_CONFIRMED: _ClassVar[AlertEventKind]
    ALERT_EVENT_KIND_CANCELLED: _ClassVar[AlertEventKind]

class AlertReading(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_READING_UNSPECIFIED: _ClassVar[AlertReading]
    ALERT_READING_PENDING: _ClassVar[AlertReading]
    ALERT_READING_CONFIRMED: _ClassVar[AlertReading]
    ALERT_READING_CANCELLED: _ClassVar[AlertReading]
ALERT_EVENT_KIND_UNSPECIFIED: AlertEventKind
ALERT_EVENT_KIND_RAISED: AlertEventKind
ALERT_EVENT_KIND_UNACKNOWLEDGED: AlertEventKind
ALERT_EVENT_KIND_RESENT: AlertEventKind
ALERT_EVENT_KIND_ESCALATED: AlertEventKind
ALERT_EVENT_KIND_ACKNOWLEDGED: AlertEventKind
ALERT_EVENT_KIND_CONFIRMED: AlertEventKind
ALERT_EVENT_KIND_CANCELLED: AlertEventKind
ALERT_READING_UNSPECIFIED: AlertReading
ALERT_READING_PENDING: AlertReading
ALERT_READING_CONFIRMED: AlertReading
ALERT_READING_CANCELLED: AlertReading

class Alert(_message.Message):
    __slots__ = ("alert_id", "record_id", "site_id", "county_id", "hospital_id", "backup_hospital_id", "patient", "findings", "alert_codes", "escalation_level", "reading", "acknowledged", "acknowledged_by", "acquired_at", "received_at", "raised_at", "first_sent_at", "delivered_at", "acknowledged_at", "reading_at", "waveform")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTY_ID_FIELD_NUMBER: _ClassVar[int]
    HOSPITAL_ID_FIELD_NUMBER: _ClassVar[int]
    BACKUP_HOSPITAL_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    ALERT_CODES_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    READING_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    ACQUIRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SENT_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_AT_FIELD_NUMBER: _ClassVar[int]
    READING_AT_FIELD_NUMBER: _ClassVar[int]
    WAVEFORM_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    record_id: str
    site_id: str
    county_id: str
    hospital_id: str
    backup_hospital_id: str
    patient: _common_pb2.Patient
    findings: _containers.RepeatedCompositeFieldContainer[_common_pb2.Finding]
    alert_codes: _containers.RepeatedScalarFieldContainer[str]
    escalation_level: int
    reading: AlertReading
    acknowledged: bool
    acknowledged_by: str
    acquired_at: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    raised_at: _timestamp_pb2.Timestamp
    first_sent_at: _timestamp_pb2.Timestamp
    delivered_at: _timestamp_pb2.Timestamp
    acknowledged_at: _timestamp_pb2.Timestamp
    reading_at: _timestamp_pb2.Timestamp
    waveform: _common_pb2.Waveform
    def __init__(self, alert_id: _Optional[str] = ..., record_id: _Optional[str] = ..., site_id: _Optional[str] = ..., county_id: _Optional[str] = ..., hospital_id: _Optional[str] = ..., backup_hospital_id: _Optional[str] = ..., patient: _Optional[_Union[_common_pb2.Patient, _Mapping]] = ..., findings: _Optional[_Iterable[_Union[_common_pb2.Finding, _Mapping]]] = ..., alert_codes: _Optional[_Iterable[str]] = ..., escalation_level: _Optional[int] = ..., reading: _Optional[_Union[AlertReading, str]] = ..., acknowledged: _Optional[bool] = ..., acknowledged_by: _Optional[str] = ..., acquired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., raised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reading_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., waveform: _Optional[_Union[_common_pb2.Waveform, _Mapping]] = ...) -> None: ...

class SubscribeAlertsRequest(_message.Message):
    __slots__ = ("hospital_id", "omit_waveform")
    HOSPITAL_ID_FIELD_NUMBER: _ClassVar[int]
    OMIT_WAVEFORM_FIELD_NUMBER: _ClassVar[int]
    hospital_id: str
    omit_waveform: bool
    def __init__(self, hospital_id: _Optional[str] = ..., omit_waveform: _Optional[bool] = ...) -> None: ...

class AlertEvent(_message.Message):
    __slots__ = ("kind", "alert", "is_new", "event_at")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    IS_NEW_FIELD_NUMBER: _ClassVar[int]
    EVENT_AT_FIELD_NUMBER: _ClassVar[int]
    kind: AlertEventKind
    alert: Alert
    is_new: bool
    event_at: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[_Union[AlertEventKind, str]] = ..., alert: _Optional[_Union[Alert, _Mapping]] = ..., is_new: _Optional[bool] = ..., event_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConfirmDeliveryRequest(_message.Message):
    __slots__ = ("alert_id", "hospital_id")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSPITAL_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    hospital_id: str
    def __init__(self, alert_id: _Optional[str] = ..., hospital_id: _Optional[str] = ...) -> None: ...

class ConfirmDeliveryResponse(_message.Message):
    __slots__ = ("first",)
    FIRST_FIELD_NUMBER: _ClassVar[int]
    first: bool
    def __init__(self, first: _Optional[bool] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("alert_id", "hospital_id", "who")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSPITAL_ID_FIELD_NUMBER: _ClassVar[int]
    WHO_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    hospital_id: str
    who: str
    def __init__(self, alert_id: _Optional[str] = ..., hospital_id: _Optional[str] = ..., who: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertResponse(_message.Message):
    __slots__ = ("alert", "first")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    FIRST_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    first: bool
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ..., first: _Optional[bool] = ...) -> None: ...
