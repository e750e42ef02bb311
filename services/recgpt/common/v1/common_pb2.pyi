from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ItemRepresentation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ITEM_REPRESENTATION_DEFAULT: _ClassVar[ItemRepresentation]
    ITEM_REPRESENTATION_TEXT: _ClassVar[ItemRepresentation]
    ITEM_REPRESENTATION_ENTITY: _ClassVar[ItemRepresentation]
ITEM_REPRESENTATION_DEFAULT: ItemRepresentation
ITEM_REPRESENTATION_TEXT: ItemRepresentation
ITEM_REPRESENTATION_ENTITY: ItemRepresentation

class Item(_message.Message):
    __slots__ = ("item_id", "title", "brand", "category_path", "description")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_PATH_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    title: str
    brand: str
    category_path: _containers.RepeatedScalarFieldContainer[str]
    description: str
    def __init__(self, item_id: _Optional[str] = ..., title: _Optional[str] = ..., brand: _Optional[str] = ..., category_path: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ...) -> None: ...

class Interaction(_message.Message):
    __slots__ = ("item_id", "timestamp", "rating", "behaviour")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOUR_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    timestamp: int
    rating: float
    behaviour: str
    def __init__(self, item_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., rating: _Optional[float] = ..., behaviour: _Optional[str] = ...) -> None: ...

class Interest(_message.Message):
    __slots__ = ("interest", "reason")
    INTEREST_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    interest: str
    reason: str
    def __init__(self, interest: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Tag(_message.Message):
    __slots__ = ("tag", "interest", "rationale", "category", "category_score")
    TAG_FIELD_NUMBER: _ClassVar[int]
    INTEREST_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_SCORE_FIELD_NUMBER: _ClassVar[int]
    tag: str
    interest: str
    rationale: str
    category: str
    category_score: float
    def __init__(self, tag: _Optional[str] = ..., interest: _Optional[str] = ..., rationale: _Optional[str] = ..., category: _Optional[str] = ..., category_score: _Optional[float] = ...) -> None: ...

class ScoredItem(_message.Message):
    __slots__ = ("item", "score", "route", "tag", "interest")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    INTEREST_FIELD_NUMBER: _ClassVar[int]
    item: Item
    score: float
    route: str
    tag: str
    interest: str
    def __init__(self, item: _Optional[_Union[Item, _Mapping]] = ..., score: _Optional[float] = ..., route: _Optional[str] = ..., tag: _Optional[str] = ..., interest: _Optional[str] = ...) -> None: ...

class Provenance(_message.Message):
    __slots__ = ("model", "prompt_version", "created_at_unix", "adapter", "fallback")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    model: str
    prompt_version: str
    created_at_unix: int
    adapter: str
    fallback: bool
    def __init__(self, model: _Optional[str] = ..., prompt_version: _Optional[str] = ..., created_at_unix: _Optional[int] = ..., adapter: _Optional[str] = ..., fallback: _Optional[bool] = ...) -> None: ...

class LlmUsage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "engine_seconds")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    engine_seconds: float
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., engine_seconds: _Optional[float] = ...) -> None: ...

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
    __slots__ = ("hard_positive", "hard_negative", "soft_positive", "soft_negative", "soft_positive_items", "soft_negative_items")
    HARD_POSITIVE_FIELD_NUMBER: _ClassVar[int]
    HARD_NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    SOFT_POSITIVE_FIELD_NUMBER: _ClassVar[int]
    SOFT_NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    SOFT_POSITIVE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    SOFT_NEGATIVE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    hard_positive: _containers.RepeatedCompositeFieldContainer[Constraint]
    hard_negative: _containers.RepeatedCompositeFieldContainer[Constraint]
    soft_positive: _containers.RepeatedScalarFieldContainer[str]
    soft_negative: _containers.RepeatedScalarFieldContainer[str]
    soft_positive_items: _containers.RepeatedScalarFieldContainer[str]
    soft_negative_items: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, hard_positive: _Optional[_Iterable[_Union[Constraint, _Mapping]]] = ..., hard_negative: _Optional[_Iterable[_Union[Constraint, _Mapping]]] = ..., soft_positive: _Optional[_Iterable[str]] = ..., soft_negative: _Optional[_Iterable[str]] = ..., soft_positive_items: _Optional[_Iterable[str]] = ..., soft_negative_items: _Optional[_Iterable[str]] = ...) -> None: ...
