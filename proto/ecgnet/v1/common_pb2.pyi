import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_CRITICAL: _ClassVar[Priority]
    PRIORITY_WARNING: _ClassVar[Priority]
    PRIORITY_ROUTINE: _ClassVar[Priority]
    PRIORITY_UNREADABLE: _ClassVar[Priority]

class Sex(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEX_UNSPECIFIED: _ClassVar[Sex]
    SEX_MALE: _ClassVar[Sex]
    SEX_FEMALE: _ClassVar[Sex]
    SEX_OTHER: _ClassVar[Sex]
PRIORITY_UNSPECIFIED: Priority
PRIORITY_CRITICAL: Priority
PRIORITY_WARNING: Priority
PRIORITY_ROUTINE: Priority
PRIORITY_UNREADABLE: Priority
SEX_UNSPECIFIED: Sex
SEX_MALE: Sex
SEX_FEMALE: Sex
SEX_OTHER: Sex

class Patient(_message.Message):
    __slots__ = ("pseudo_id", "age_years", "sex")
    PSEUDO_ID_FIELD_NUMBER: _ClassVar[int]
    AGE_YEARS_FIELD_NUMBER: _ClassVar[int]
    SEX_FIELD_NUMBER: _ClassVar[int]
    pseudo_id: str
    age_years: int
    sex: Sex
    def __init__(self, pseudo_id: _Optional[str] = ..., age_years: _Optional[int] = ..., sex: _Optional[_Union[Sex, str]] = ...) -> None: ...

class Waveform(_message.Message):
    __slots__ = ("fs_hz", "leads", "n_samples", "gain_counts_per_mv", "samples", "compressed")
    FS_HZ_FIELD_NUMBER: _ClassVar[int]
    LEADS_FIELD_NUMBER: _ClassVar[int]
    N_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    GAIN_COUNTS_PER_MV_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_FIELD_NUMBER: _ClassVar[int]
    fs_hz: float
    leads: _containers.RepeatedScalarFieldContainer[str]
    n_samples: int
    gain_counts_per_mv: float
    samples: bytes
    compressed: bool
    def __init__(self, fs_hz: _Optional[float] = ..., leads: _Optional[_Iterable[str]] = ..., n_samples: _Optional[int] = ..., gain_counts_per_mv: _Optional[float] = ..., samples: _Optional[bytes] = ..., compressed: _Optional[bool] = ...) -> None: ...

class Finding(_message.Message):
    __slots__ = ("code", "label_en", "label_zh", "priority", "source", "probability", "detail")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LABEL_EN_FIELD_NUMBER: _ClassVar[int]
    LABEL_ZH_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    code: str
    label_en: str
    label_zh: str
    priority: Priority
    source: str
    probability: float
    detail: str
    def __init__(self, code: _Optional[str] = ..., label_en: _Optional[str] = ..., label_zh: _Optional[str] = ..., priority: _Optional[_Union[Priority, str]] = ..., source: _Optional[str] = ..., probability: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("report_id", "record_id", "site_id", "version", "findings", "free_text", "conclusion", "signed_by", "signer_name", "signed_at", "amend_reason", "cursor")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    FREE_TEXT_FIELD_NUMBER: _ClassVar[int]
    CONCLUSION_FIELD_NUMBER: _ClassVar[int]
    SIGNED_BY_FIELD_NUMBER: _ClassVar[int]
    SIGNER_NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    AMEND_REASON_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    record_id: str
    site_id: str
    version: int
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    free_text: str
    conclusion: str
    signed_by: str
    signer_name: str
    signed_at: _timestamp_pb2.Timestamp
    amend_reason: str
    cursor: int
    def __init__(self, report_id: _Optional[str] = ..., record_id: _Optional[str] = ..., site_id: _Optional[str] = ..., version: _Optional[int] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., free_text: _Optional[str] = ..., conclusion: _Optional[str] = ..., signed_by: _Optional[str] = ..., signer_name: _Optional[str] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amend_reason: _Optional[str] = ..., cursor: _Optional[int] = ...) -> None: ...
