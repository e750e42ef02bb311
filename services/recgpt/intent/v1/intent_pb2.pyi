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

class ParseCommandRequest(_message.Message):
    __slots__ = ("user_id", "text", "feed_item_ids", "current")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FEED_ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    text: str
    feed_item_ids: _containers.RepeatedScalarFieldContainer[str]
    current: _common_pb2.Preferences
    def __init__(self, user_id: _Optional[str] = ..., text: _Optional[str] = ..., feed_item_ids: _Optional[_Iterable[str]] = ..., current: _Optional[_Union[_common_pb2.Preferences, _Mapping]] = ...) -> None: ...

class ParsedPart(_message.Message):
    __slots__ = ("span", "kind", "source", "polarity", "value", "resolution", "note")
    SPAN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    POLARITY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    span: str
    kind: str
    source: str
    polarity: str
    value: str
    resolution: str
    note: str
    def __init__(self, span: _Optional[str] = ..., kind: _Optional[str] = ..., source: _Optional[str] = ..., polarity: _Optional[str] = ..., value: _Optional[str] = ..., resolution: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ParseCommandResponse(_message.Message):
    __slots__ = ("preferences", "provenance", "usage", "fallback", "added", "removed", "reset", "parts", "llm_status", "rules_seconds", "llm_seconds")
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    LLM_STATUS_FIELD_NUMBER: _ClassVar[int]
    RULES_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LLM_SECONDS_FIELD_NUMBER: _ClassVar[int]
    preferences: _common_pb2.Preferences
    provenance: _common_pb2.Provenance
    usage: _common_pb2.LlmUsage
    fallback: bool
    added: _common_pb2.Preferences
    removed: _common_pb2.Preferences
    reset: bool
    parts: _containers.RepeatedCompositeFieldContainer[ParsedPart]
    llm_status: str
    rules_seconds: float
    llm_seconds: float
    def __init__(self, preferences: _Optional[_Union[_common_pb2.Preferences, _Mapping]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.LlmUsage, _Mapping]] = ..., fallback: _Optional[bool] = ..., added: _Optional[_Union[_common_pb2.Preferences, _Mapping]] = ..., removed: _Optional[_Union[_common_pb2.Preferences, _Mapping]] = ..., reset: _Optional[bool] = ..., parts: _Optional[_Iterable[_Union[ParsedPart, _Mapping]]] = ..., llm_status: _Optional[str] = ..., rules_seconds: _Optional[float] = ..., llm_seconds: _Optional[float] = ...) -> None: ...

class PlanPersonasRequest(_message.Message):
    __slots__ = ("user_id", "behaviour", "max_personas", "user_attributes", "as_of_unix", "item_representation")
    class UserAttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOUR_FIELD_NUMBER: _ClassVar[int]
    MAX_PERSONAS_FIELD_NUMBER: _ClassVar[int]
    USER_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    AS_OF_UNIX_FIELD_NUMBER: _ClassVar[int]
    ITEM_REPRESENTATION_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    behaviour: _containers.RepeatedCompositeFieldContainer[_common_pb2.Interaction]
    max_personas: int
    user_attributes: _containers.ScalarMap[str, str]
    as_of_unix: int
    item_representation: _common_pb2.ItemRepresentation
    def __init__(self, user_id: _Optional[str] = ..., behaviour: _Optional[_Iterable[_Union[_common_pb2.Interaction, _Mapping]]] = ..., max_personas: _Optional[int] = ..., user_attributes: _Optional[_Mapping[str, str]] = ..., as_of_unix: _Optional[int] = ..., item_representation: _Optional[_Union[_common_pb2.ItemRepresentation, str]] = ...) -> None: ...

class PlannedPersona(_message.Message):
    __slots__ = ("persona", "categories")
    PERSONA_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    persona: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, persona: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...

class PlanPersonasResponse(_message.Message):
    __slots__ = ("personas", "provenance", "usage", "fallback", "fallback_reason", "dropped_personas", "environment", "entity_tokens")
    PERSONAS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    DROPPED_PERSONAS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    ENTITY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    personas: _containers.RepeatedCompositeFieldContainer[PlannedPersona]
    provenance: _common_pb2.Provenance
    usage: _common_pb2.LlmUsage
    fallback: bool
    fallback_reason: str
    dropped_personas: int
    environment: str
    entity_tokens: int
    def __init__(self, personas: _Optional[_Iterable[_Union[PlannedPersona, _Mapping]]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.LlmUsage, _Mapping]] = ..., fallback: _Optional[bool] = ..., fallback_reason: _Optional[str] = ..., dropped_personas: _Optional[int] = ..., environment: _Optional[str] = ..., entity_tokens: _Optional[int] = ...) -> None: ...
