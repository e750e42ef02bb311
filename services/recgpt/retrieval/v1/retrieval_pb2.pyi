from recgpt.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Degradation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEGRADATION_UNSPECIFIED: _ClassVar[Degradation]
    DEGRADATION_USER_BEHAVIOUR: _ClassVar[Degradation]
DEGRADATION_UNSPECIFIED: Degradation
DEGRADATION_USER_BEHAVIOUR: Degradation

class AttributeFilter(_message.Message):
    __slots__ = ("categories", "brands", "exclude_categories", "exclude_brands")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    BRANDS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_BRANDS_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedScalarFieldContainer[str]
    brands: _containers.RepeatedScalarFieldContainer[str]
    exclude_categories: _containers.RepeatedScalarFieldContainer[str]
    exclude_brands: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, categories: _Optional[_Iterable[str]] = ..., brands: _Optional[_Iterable[str]] = ..., exclude_categories: _Optional[_Iterable[str]] = ..., exclude_brands: _Optional[_Iterable[str]] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class TagQuery(_message.Message):
    __slots__ = ("tag",)
    TAG_FIELD_NUMBER: _ClassVar[int]
    tag: _common_pb2.Tag
    def __init__(self, tag: _Optional[_Union[_common_pb2.Tag, _Mapping]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("texts", "tags", "vectors", "items", "top_k", "filter", "exclude_item_ids", "exclude_seen_of_user", "per_query_top_k")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_SEEN_OF_USER_FIELD_NUMBER: _ClassVar[int]
    PER_QUERY_TOP_K_FIELD_NUMBER: _ClassVar[int]
    texts: TextQueries
    tags: TagQueries
    vectors: VectorQueries
    items: ItemQueries
    top_k: int
    filter: AttributeFilter
    exclude_item_ids: _containers.RepeatedScalarFieldContainer[str]
    exclude_seen_of_user: str
    per_query_top_k: int
    def __init__(self, texts: _Optional[_Union[TextQueries, _Mapping]] = ..., tags: _Optional[_Union[TagQueries, _Mapping]] = ..., vectors: _Optional[_Union[VectorQueries, _Mapping]] = ..., items: _Optional[_Union[ItemQueries, _Mapping]] = ..., top_k: _Optional[int] = ..., filter: _Optional[_Union[AttributeFilter, _Mapping]] = ..., exclude_item_ids: _Optional[_Iterable[str]] = ..., exclude_seen_of_user: _Optional[str] = ..., per_query_top_k: _Optional[int] = ...) -> None: ...

class TextQueries(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...

class TagQueries(_message.Message):
    __slots__ = ("tags",)
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[_common_pb2.Tag]
    def __init__(self, tags: _Optional[_Iterable[_Union[_common_pb2.Tag, _Mapping]]] = ...) -> None: ...

class VectorQueries(_message.Message):
    __slots__ = ("vectors",)
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    vectors: _containers.RepeatedCompositeFieldContainer[Vector]
    def __init__(self, vectors: _Optional[_Iterable[_Union[Vector, _Mapping]]] = ...) -> None: ...

class ItemQueries(_message.Message):
    __slots__ = ("item_ids",)
    ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    item_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, item_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("items", "degraded")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.ScoredItem]
    degraded: _containers.RepeatedScalarFieldContainer[Degradation]
    def __init__(self, items: _Optional[_Iterable[_Union[_common_pb2.ScoredItem, _Mapping]]] = ..., degraded: _Optional[_Iterable[_Union[Degradation, str]]] = ...) -> None: ...

class CollaborativeRequest(_message.Message):
    __slots__ = ("user_id", "top_k", "recent_items", "filter", "exclude_item_ids", "seed_item_ids", "cooccurrence_only")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    RECENT_ITEMS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    SEED_ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    COOCCURRENCE_ONLY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    top_k: int
    recent_items: int
    filter: AttributeFilter
    exclude_item_ids: _containers.RepeatedScalarFieldContainer[str]
    seed_item_ids: _containers.RepeatedScalarFieldContainer[str]
    cooccurrence_only: bool
    def __init__(self, user_id: _Optional[str] = ..., top_k: _Optional[int] = ..., recent_items: _Optional[int] = ..., filter: _Optional[_Union[AttributeFilter, _Mapping]] = ..., exclude_item_ids: _Optional[_Iterable[str]] = ..., seed_item_ids: _Optional[_Iterable[str]] = ..., cooccurrence_only: _Optional[bool] = ...) -> None: ...

class CollaborativeResponse(_message.Message):
    __slots__ = ("items", "cold_start", "degraded")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COLD_START_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.ScoredItem]
    cold_start: bool
    degraded: _containers.RepeatedScalarFieldContainer[Degradation]
    def __init__(self, items: _Optional[_Iterable[_Union[_common_pb2.ScoredItem, _Mapping]]] = ..., cold_start: _Optional[bool] = ..., degraded: _Optional[_Iterable[_Union[Degradation, str]]] = ...) -> None: ...

class UserRoutesRequest(_message.Message):
    __slots__ = ("user_id", "top_k", "recent_items", "filter", "exclude_item_ids", "skip_content", "with_preferences")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    RECENT_ITEMS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    SKIP_CONTENT_FIELD_NUMBER: _ClassVar[int]
    WITH_PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    top_k: int
    recent_items: int
    filter: AttributeFilter
    exclude_item_ids: _containers.RepeatedScalarFieldContainer[str]
    skip_content: bool
    with_preferences: bool
    def __init__(self, user_id: _Optional[str] = ..., top_k: _Optional[int] = ..., recent_items: _Optional[int] = ..., filter: _Optional[_Union[AttributeFilter, _Mapping]] = ..., exclude_item_ids: _Optional[_Iterable[str]] = ..., skip_content: _Optional[bool] = ..., with_preferences: _Optional[bool] = ...) -> None: ...

class UserRoutesResponse(_message.Message):
    __slots__ = ("collaborative", "content", "cold_start", "degraded", "recent_item_ids", "preferences_read", "preferences", "preferences_version", "towers_fusion", "cooccurrence")
    COLLABORATIVE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    COLD_START_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    RECENT_ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_READ_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOWERS_FUSION_FIELD_NUMBER: _ClassVar[int]
    COOCCURRENCE_FIELD_NUMBER: _ClassVar[int]
    collaborative: _containers.RepeatedCompositeFieldContainer[_common_pb2.ScoredItem]
    content: _containers.RepeatedCompositeFieldContainer[_common_pb2.ScoredItem]
    cold_start: bool
    degraded: _containers.RepeatedScalarFieldContainer[Degradation]
    recent_item_ids: _containers.RepeatedScalarFieldContainer[str]
    preferences_read: bool
    preferences: _common_pb2.Preferences
    preferences_version: int
    towers_fusion: TowersFusion
    cooccurrence: _containers.RepeatedCompositeFieldContainer[_common_pb2.ScoredItem]
    def __init__(self, collaborative: _Optional[_Iterable[_Union[_common_pb2.ScoredItem, _Mapping]]] = ..., content: _Optional[_Iterable[_Union[_common_pb2.ScoredItem, _Mapping]]] = ..., cold_start: _Optional[bool] = ..., degraded: _Optional[_Iterable[_Union[Degradation, str]]] = ..., recent_item_ids: _Optional[_Iterable[str]] = ..., preferences_read: _Optional[bool] = ..., preferences: _Optional[_Union[_common_pb2.Preferences, _Mapping]] = ..., preferences_version: _Optional[int] = ..., towers_fusion: _Optional[_Union[TowersFusion, _Mapping]] = ..., cooccurrence: _Optional[_Iterable[_Union[_common_pb2.ScoredItem, _Mapping]]] = ...) -> None: ...

class PopularRequest(_message.Message):
    __slots__ = ("top_k", "filter")
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    top_k: int
    filter: AttributeFilter
    def __init__(self, top_k: _Optional[int] = ..., filter: _Optional[_Union[AttributeFilter, _Mapping]] = ...) -> None: ...

class PopularResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.ScoredItem]
    def __init__(self, items: _Optional[_Iterable[_Union[_common_pb2.ScoredItem, _Mapping]]] = ...) -> None: ...

class GetItemsRequest(_message.Message):
    __slots__ = ("item_ids",)
    ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    item_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, item_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetItemsResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.Item]
    def __init__(self, items: _Optional[_Iterable[_Union[_common_pb2.Item, _Mapping]]] = ...) -> None: ...

class GetIndexInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IndexInfo(_message.Message):
    __slots__ = ("model", "dimension", "item_count", "built_at_unix", "index_type", "catalogue_fingerprint", "cooccurrence_behaviour_fingerprint", "cooccurrence_users", "cooccurrence_interactions", "towers_version", "towers_fusion", "towers_fusion_spread")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    BUILT_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    INDEX_TYPE_FIELD_NUMBER: _ClassVar[int]
    CATALOGUE_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    COOCCURRENCE_BEHAVIOUR_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    COOCCURRENCE_USERS_FIELD_NUMBER: _ClassVar[int]
    COOCCURRENCE_INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    TOWERS_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOWERS_FUSION_FIELD_NUMBER: _ClassVar[int]
    TOWERS_FUSION_SPREAD_FIELD_NUMBER: _ClassVar[int]
    model: str
    dimension: int
    item_count: int
    built_at_unix: int
    index_type: str
    catalogue_fingerprint: str
    cooccurrence_behaviour_fingerprint: str
    cooccurrence_users: int
    cooccurrence_interactions: int
    towers_version: str
    towers_fusion: TowersFusion
    towers_fusion_spread: TowersFusionSpread
    def __init__(self, model: _Optional[str] = ..., dimension: _Optional[int] = ..., item_count: _Optional[int] = ..., built_at_unix: _Optional[int] = ..., index_type: _Optional[str] = ..., catalogue_fingerprint: _Optional[str] = ..., cooccurrence_behaviour_fingerprint: _Optional[str] = ..., cooccurrence_users: _Optional[int] = ..., cooccurrence_interactions: _Optional[int] = ..., towers_version: _Optional[str] = ..., towers_fusion: _Optional[_Union[TowersFusion, _Mapping]] = ..., towers_fusion_spread: _Optional[_Union[TowersFusionSpread, _Mapping]] = ...) -> None: ...

class TowersFusion(_message.Message):
    __slots__ = ("beta", "collaborative_weight", "content_weight", "cooccurrence_weight", "ranked")
    BETA_FIELD_NUMBER: _ClassVar[int]
    COLLABORATIVE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    COOCCURRENCE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    RANKED_FIELD_NUMBER: _ClassVar[int]
    beta: float
    collaborative_weight: float
    content_weight: float
    cooccurrence_weight: float
    ranked: bool
    def __init__(self, beta: _Optional[float] = ..., collaborative_weight: _Optional[float] = ..., content_weight: _Optional[float] = ..., cooccurrence_weight: _Optional[float] = ..., ranked: _Optional[bool] = ...) -> None: ...

class TowersFusionSpread(_message.Message):
    __slots__ = ("folds", "choices")
    FOLDS_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    folds: int
    choices: _containers.RepeatedCompositeFieldContainer[FusionChoiceSpread]
    def __init__(self, folds: _Optional[int] = ..., choices: _Optional[_Iterable[_Union[FusionChoiceSpread, _Mapping]]] = ...) -> None: ...

class FusionChoiceSpread(_message.Message):
    __slots__ = ("name", "choice", "per_fold", "mean", "std", "held_out", "held_out_choices")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHOICE_FIELD_NUMBER: _ClassVar[int]
    PER_FOLD_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_CHOICES_FIELD_NUMBER: _ClassVar[int]
    name: str
    choice: str
    per_fold: _containers.RepeatedScalarFieldContainer[float]
    mean: float
    std: float
    held_out: _containers.RepeatedScalarFieldContainer[float]
    held_out_choices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., choice: _Optional[str] = ..., per_fold: _Optional[_Iterable[float]] = ..., mean: _Optional[float] = ..., std: _Optional[float] = ..., held_out: _Optional[_Iterable[float]] = ..., held_out_choices: _Optional[_Iterable[str]] = ...) -> None: ...

class PlanToolsRequest(_message.Message):
    __slots__ = ("user_id", "preferences", "top_k", "exclude_item_ids", "base")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    preferences: _common_pb2.Preferences
    top_k: int
    exclude_item_ids: _containers.RepeatedScalarFieldContainer[str]
    base: _containers.RepeatedCompositeFieldContainer[_common_pb2.ScoredItem]
    def __init__(self, user_id: _Optional[str] = ..., preferences: _Optional[_Union[_common_pb2.Preferences, _Mapping]] = ..., top_k: _Optional[int] = ..., exclude_item_ids: _Optional[_Iterable[str]] = ..., base: _Optional[_Iterable[_Union[_common_pb2.ScoredItem, _Mapping]]] = ...) -> None: ...

class ToolCall(_message.Message):
    __slots__ = ("tool", "arguments", "seconds")
    class ArgumentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TOOL_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    tool: str
    arguments: _containers.ScalarMap[str, str]
    seconds: float
    def __init__(self, tool: _Optional[str] = ..., arguments: _Optional[_Mapping[str, str]] = ..., seconds: _Optional[float] = ...) -> None: ...

class PlanToolsResponse(_message.Message):
    __slots__ = ("plan", "items", "allowed_items", "degraded")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    plan: _containers.RepeatedCompositeFieldContainer[ToolCall]
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.ScoredItem]
    allowed_items: int
    degraded: _containers.RepeatedScalarFieldContainer[Degradation]
    def __init__(self, plan: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., items: _Optional[_Iterable[_Union[_common_pb2.ScoredItem, _Mapping]]] = ..., allowed_items: _Optional[int] = ..., degraded: _Optional[_Iterable[_Union[Degradation, str]]] = ...) -> None: ...
