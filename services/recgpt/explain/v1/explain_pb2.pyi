from recgpt.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METHOD_UNSPECIFIED: _ClassVar[Method]
    METHOD_RECGPT_V1: _ClassVar[Method]
    METHOD_RECGPT_V2: _ClassVar[Method]
METHOD_UNSPECIFIED: Method
METHOD_RECGPT_V1: Method
METHOD_RECGPT_V2: Method

class ExplainPair(_message.Message):
    __slots__ = ("interest", "item_id")
    INTEREST_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    interest: str
    item_id: str
    def __init__(self, interest: _Optional[str] = ..., item_id: _Optional[str] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("user_id", "pairs", "method", "cache_only", "situation", "bypass_cache")
    class SituationEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CACHE_ONLY_FIELD_NUMBER: _ClassVar[int]
    SITUATION_FIELD_NUMBER: _ClassVar[int]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    pairs: _containers.RepeatedCompositeFieldContainer[ExplainPair]
    method: Method
    cache_only: bool
    situation: _containers.ScalarMap[str, str]
    bypass_cache: bool
    def __init__(self, user_id: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[ExplainPair, _Mapping]]] = ..., method: _Optional[_Union[Method, str]] = ..., cache_only: _Optional[bool] = ..., situation: _Optional[_Mapping[str, str]] = ..., bypass_cache: _Optional[bool] = ...) -> None: ...

class Explanation(_message.Message):
    __slots__ = ("interest", "item_id", "text", "style", "cached", "provenance", "fallback")
    INTEREST_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    interest: str
    item_id: str
    text: str
    style: str
    cached: bool
    provenance: _common_pb2.Provenance
    fallback: bool
    def __init__(self, interest: _Optional[str] = ..., item_id: _Optional[str] = ..., text: _Optional[str] = ..., style: _Optional[str] = ..., cached: _Optional[bool] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., fallback: _Optional[bool] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("explanations", "usage")
    EXPLANATIONS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    explanations: _containers.RepeatedCompositeFieldContainer[Explanation]
    usage: _common_pb2.LlmUsage
    def __init__(self, explanations: _Optional[_Iterable[_Union[Explanation, _Mapping]]] = ..., usage: _Optional[_Union[_common_pb2.LlmUsage, _Mapping]] = ...) -> None: ...
