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

class MineInterestsRequest(_message.Message):
    __slots__ = ("user_id", "method", "behaviour", "max_interests", "environment")
    class EnvironmentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOUR_FIELD_NUMBER: _ClassVar[int]
    MAX_INTERESTS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    method: Method
    behaviour: _containers.RepeatedCompositeFieldContainer[_common_pb2.Interaction]
    max_interests: int
    environment: _containers.ScalarMap[str, str]
    def __init__(self, user_id: _Optional[str] = ..., method: _Optional[_Union[Method, str]] = ..., behaviour: _Optional[_Iterable[_Union[_common_pb2.Interaction, _Mapping]]] = ..., max_interests: _Optional[int] = ..., environment: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Persona(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class MineInterestsResponse(_message.Message):
    __slots__ = ("interests", "personas", "tags", "provenance", "usage", "fallback")
    INTERESTS_FIELD_NUMBER: _ClassVar[int]
    PERSONAS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    interests: _containers.RepeatedCompositeFieldContainer[_common_pb2.Interest]
    personas: _containers.RepeatedCompositeFieldContainer[Persona]
    tags: _containers.RepeatedCompositeFieldContainer[_common_pb2.Tag]
    provenance: _common_pb2.Provenance
    usage: _common_pb2.LlmUsage
    fallback: bool
    def __init__(self, interests: _Optional[_Iterable[_Union[_common_pb2.Interest, _Mapping]]] = ..., personas: _Optional[_Iterable[_Union[Persona, _Mapping]]] = ..., tags: _Optional[_Iterable[_Union[_common_pb2.Tag, _Mapping]]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.LlmUsage, _Mapping]] = ..., fallback: _Optional[bool] = ...) -> None: ...

class Constraint(_message.Message):
    __slots__ = ("field", "op", "value")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    field: str
    op: str
    value: str
    def __init__(self, field: _Optional[str] = ..., op: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Preferences(_message.Message):
    __slots__ = ("hard_positive", "hard_negative", "soft_positive", "soft_negative")
    HARD_POSITIVE_FIELD_NUMBER: _ClassVar[int]
    HARD_NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    SOFT_POSITIVE_FIELD_NUMBER: _ClassVar[int]
    SOFT_NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    hard_positive: _containers.RepeatedCompositeFieldContainer[Constraint]
    hard_negative: _containers.RepeatedCompositeFieldContainer[Constraint]
    soft_positive: _containers.RepeatedScalarFieldContainer[str]
    soft_negative: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, hard_positive: _Optional[_Iterable[_Union[Constraint, _Mapping]]] = ..., hard_negative: _Optional[_Iterable[_Union[Constraint, _Mapping]]] = ..., soft_positive: _Optional[_Iterable[str]] = ..., soft_negative: _Optional[_Iterable[str]] = ...) -> None: ...

class ParseCommandRequest(_message.Message):
    __slots__ = ("user_id", "text", "feed_item_ids", "current")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FEED_ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    text: str
    feed_item_ids: _containers.RepeatedScalarFieldContainer[str]
    current: Preferences
    def __init__(self, user_id: _Optional[str] = ..., text: _Optional[str] = ..., feed_item_ids: _Optional[_Iterable[str]] = ..., current: _Optional[_Union[Preferences, _Mapping]] = ...) -> None: ...

class ParseCommandResponse(_message.Message):
    __slots__ = ("preferences", "provenance", "usage", "fallback")
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    preferences: Preferences
    provenance: _common_pb2.Provenance
    usage: _common_pb2.LlmUsage
    fallback: bool
    def __init__(self, preferences: _Optional[_Union[Preferences, _Mapping]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.LlmUsage, _Mapping]] = ..., fallback: _Optional[bool] = ...) -> None: ...

class PlanToolsRequest(_message.Message):
    __slots__ = ("user_id", "preferences")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    preferences: Preferences
    def __init__(self, user_id: _Optional[str] = ..., preferences: _Optional[_Union[Preferences, _Mapping]] = ...) -> None: ...

class ToolCall(_message.Message):
    __slots__ = ("tool", "arguments")
    class ArgumentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TOOL_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    tool: str
    arguments: _containers.ScalarMap[str, str]
    def __init__(self, tool: _Optional[str] = ..., arguments: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PlanToolsResponse(_message.Message):
    __slots__ = ("calls", "provenance", "usage")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    provenance: _common_pb2.Provenance
    usage: _common_pb2.LlmUsage
    def __init__(self, calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.LlmUsage, _Mapping]] = ...) -> None: ...
