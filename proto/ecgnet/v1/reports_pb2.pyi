from ecgnet.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscribeReportsRequest(_message.Message):
    __slots__ = ("site_id", "cursor")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    cursor: int
    def __init__(self, site_id: _Optional[str] = ..., cursor: _Optional[int] = ...) -> None: ...

class ReportEvent(_message.Message):
    __slots__ = ("report", "cursor")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    report: _common_pb2.Report
    cursor: int
    def __init__(self, report: _Optional[_Union[_common_pb2.Report, _Mapping]] = ..., cursor: _Optional[int] = ...) -> None: ...
