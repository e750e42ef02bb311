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

class ExpertTagsRequest(_message.Message):
    __slots__ = ("user_id", "persona", "persona_categories", "behaviour", "max_tags")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PERSONA_FIELD_NUMBER: _ClassVar[int]
    PERSONA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOUR_FIELD_NUMBER: _ClassVar[int]
    MAX_TAGS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    persona: str
    persona_categories: _containers.RepeatedScalarFieldContainer[str]
    behaviour: _containers.RepeatedCompositeFieldContainer[_common_pb2.Interaction]
    max_tags: int
    def __init__(self, user_id: _Optional[str] = ..., persona: _Optional[str] = ..., persona_categories: _Optional[_Iterable[str]] = ..., behaviour: _Optional[_Iterable[_Union[_common_pb2.Interaction, _Mapping]]] = ..., max_tags: _Optional[int] = ...) -> None: ...

class ExpertTagsResponse(_message.Message):
    __slots__ = ("tags", "provenance", "usage", "fallback", "fallback_reason", "pool", "outside_pool")
    TAGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    OUTSIDE_POOL_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[_common_pb2.Tag]
    provenance: _common_pb2.Provenance
    usage: _common_pb2.LlmUsage
    fallback: bool
    fallback_reason: str
    pool: _containers.RepeatedScalarFieldContainer[str]
    outside_pool: int
    def __init__(self, tags: _Optional[_Iterable[_Union[_common_pb2.Tag, _Mapping]]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.LlmUsage, _Mapping]] = ..., fallback: _Optional[bool] = ..., fallback_reason: _Optional[str] = ..., pool: _Optional[_Iterable[str]] = ..., outside_pool: _Optional[int] = ...) -> None: ...

class ArbitrateTagsRequest(_message.Message):
    __slots__ = ("user_id", "behaviour", "candidates", "max_tags", "item_representation")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOUR_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    MAX_TAGS_FIELD_NUMBER: _ClassVar[int]
    ITEM_REPRESENTATION_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    behaviour: _containers.RepeatedCompositeFieldContainer[_common_pb2.Interaction]
    candidates: _containers.RepeatedCompositeFieldContainer[_common_pb2.Tag]
    max_tags: int
    item_representation: _common_pb2.ItemRepresentation
    def __init__(self, user_id: _Optional[str] = ..., behaviour: _Optional[_Iterable[_Union[_common_pb2.Interaction, _Mapping]]] = ..., candidates: _Optional[_Iterable[_Union[_common_pb2.Tag, _Mapping]]] = ..., max_tags: _Optional[int] = ..., item_representation: _Optional[_Union[_common_pb2.ItemRepresentation, str]] = ...) -> None: ...

class ArbitrateTagsResponse(_message.Message):
    __slots__ = ("tags", "provenance", "usage", "fallback", "fallback_reason", "duplicates", "distinct", "topped_up", "entity_tokens")
    TAGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_FIELD_NUMBER: _ClassVar[int]
    TOPPED_UP_FIELD_NUMBER: _ClassVar[int]
    ENTITY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[_common_pb2.Tag]
    provenance: _common_pb2.Provenance
    usage: _common_pb2.LlmUsage
    fallback: bool
    fallback_reason: str
    duplicates: int
    distinct: int
    topped_up: int
    entity_tokens: int
    def __init__(self, tags: _Optional[_Iterable[_Union[_common_pb2.Tag, _Mapping]]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.LlmUsage, _Mapping]] = ..., fallback: _Optional[bool] = ..., fallback_reason: _Optional[str] = ..., duplicates: _Optional[int] = ..., distinct: _Optional[int] = ..., topped_up: _Optional[int] = ..., entity_tokens: _Optional[int] = ...) -> None: ...
