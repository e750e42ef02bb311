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

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_PASS: _ClassVar[Verdict]
    VERDICT_FAIL: _ClassVar[Verdict]
    VERDICT_SUPERIOR: _ClassVar[Verdict]
    VERDICT_AVERAGE: _ClassVar[Verdict]
    VERDICT_BAD: _ClassVar[Verdict]
METHOD_UNSPECIFIED: Method
METHOD_RECGPT_V1: Method
METHOD_RECGPT_V2: Method
VERDICT_UNSPECIFIED: Verdict
VERDICT_PASS: Verdict
VERDICT_FAIL: Verdict
VERDICT_SUPERIOR: Verdict
VERDICT_AVERAGE: Verdict
VERDICT_BAD: Verdict

class ExplanationSubject(_message.Message):
    __slots__ = ("interest", "item", "text")
    INTEREST_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    interest: str
    item: _common_pb2.Item
    text: str
    def __init__(self, interest: _Optional[str] = ..., item: _Optional[_Union[_common_pb2.Item, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class JudgeRequest(_message.Message):
    __slots__ = ("user_id", "method", "behaviour", "interests", "tags", "explanations", "source", "situation")
    class SituationEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOUR_FIELD_NUMBER: _ClassVar[int]
    INTERESTS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATIONS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SITUATION_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    method: Method
    behaviour: _containers.RepeatedCompositeFieldContainer[_common_pb2.Interaction]
    interests: Interests
    tags: Tags
    explanations: Explanations
    source: str
    situation: _containers.ScalarMap[str, str]
    def __init__(self, user_id: _Optional[str] = ..., method: _Optional[_Union[Method, str]] = ..., behaviour: _Optional[_Iterable[_Union[_common_pb2.Interaction, _Mapping]]] = ..., interests: _Optional[_Union[Interests, _Mapping]] = ..., tags: _Optional[_Union[Tags, _Mapping]] = ..., explanations: _Optional[_Union[Explanations, _Mapping]] = ..., source: _Optional[str] = ..., situation: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Interests(_message.Message):
    __slots__ = ("interests",)
    INTERESTS_FIELD_NUMBER: _ClassVar[int]
    interests: _containers.RepeatedCompositeFieldContainer[_common_pb2.Interest]
    def __init__(self, interests: _Optional[_Iterable[_Union[_common_pb2.Interest, _Mapping]]] = ...) -> None: ...

class Tags(_message.Message):
    __slots__ = ("tags",)
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[_common_pb2.Tag]
    def __init__(self, tags: _Optional[_Iterable[_Union[_common_pb2.Tag, _Mapping]]] = ...) -> None: ...

class Explanations(_message.Message):
    __slots__ = ("explanations",)
    EXPLANATIONS_FIELD_NUMBER: _ClassVar[int]
    explanations: _containers.RepeatedCompositeFieldContainer[ExplanationSubject]
    def __init__(self, explanations: _Optional[_Iterable[_Union[ExplanationSubject, _Mapping]]] = ...) -> None: ...

class DimensionScore(_message.Message):
    __slots__ = ("dimension", "passed", "reason")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    passed: bool
    reason: str
    def __init__(self, dimension: _Optional[str] = ..., passed: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class Judgement(_message.Message):
    __slots__ = ("index", "verdict", "reason", "dimensions", "fallback_reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    verdict: Verdict
    reason: str
    dimensions: _containers.RepeatedCompositeFieldContainer[DimensionScore]
    fallback_reason: str
    def __init__(self, index: _Optional[int] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., reason: _Optional[str] = ..., dimensions: _Optional[_Iterable[_Union[DimensionScore, _Mapping]]] = ..., fallback_reason: _Optional[str] = ...) -> None: ...

class JudgeResponse(_message.Message):
    __slots__ = ("judgements", "provenance", "usage")
    JUDGEMENTS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    judgements: _containers.RepeatedCompositeFieldContainer[Judgement]
    provenance: _common_pb2.Provenance
    usage: _common_pb2.LlmUsage
    def __init__(self, judgements: _Optional[_Iterable[_Union[Judgement, _Mapping]]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.LlmUsage, _Mapping]] = ...) -> None: ...
