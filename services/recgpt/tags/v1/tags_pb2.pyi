from recgpt.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PredictTagsRequest(_message.Message):
    __slots__ = ("user_id", "interests", "behaviour", "max_tags")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    INTERESTS_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOUR_FIELD_NUMBER: _ClassVar[int]
    MAX_TAGS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    interests: _containers.RepeatedCompositeFieldContainer[_common_pb2.Interest]
    behaviour: _containers.RepeatedCompositeFieldContainer[_common_pb2.Interaction]
    max_tags: int
    def __init__(self, user_id: _Optional[str] = ..., interests: _Optional[_Iterable[_Union[_common_pb2.Interest, _Mapping]]] = ..., behaviour: _Optional[_Iterable[_Union[_common_pb2.Interaction, _Mapping]]] = ..., max_tags: _Optional[int] = ...) -> None: ...

class PredictTagsResponse(_message.Message):
    __slots__ = ("tags", "provenance", "usage", "fallback")
    TAGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[_common_pb2.Tag]
    provenance: _common_pb2.Provenance
    usage: _common_pb2.LlmUsage
    fallback: bool
    def __init__(self, tags: _Optional[_Iterable[_Union[_common_pb2.Tag, _Mapping]]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.LlmUsage, _Mapping]] = ..., fallback: _Optional[bool] = ...) -> None: ...

class MapToCategoriesRequest(_message.Message):
    __slots__ = ("tags",)
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tags: _Optional[_Iterable[str]] = ...) -> None: ...

class MapToCategoriesResponse(_message.Message):
    __slots__ = ("tags",)
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[_common_pb2.Tag]
    def __init__(self, tags: _Optional[_Iterable[_Union[_common_pb2.Tag, _Mapping]]] = ...) -> None: ...
