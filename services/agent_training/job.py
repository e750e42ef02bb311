"""What every training command shares: the agent, its data, the base model, validation and saving."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from agent_training import artefact, generation, judge_data, scoring
from agent_training.agents import EXPERT, EXPLANATIONS, JUDGE, PROMPT_VERSIONS, TAGS, AgentName
from agent_training.data import DataConfig, TrainingData, build_from_catalogue
from agent_training.model import BaseModel, LoraSettings
from agent_training.rewards import ExpertConstraints, ExplanationRewarder, TagConstraints, TagMapper
from recgpt_domain.catalogue import Item, read_items
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.persona_tags import NearCategories
from recgpt_domain.prompt_versions import TAG_PROMPT_VERSIONS

log = logging.getLogger(__name__)

# Tokens an answer may take: the targets are well within these.
MAX_NEW_TOKENS: dict[AgentName, int] = {
    "interest_miner": 160,
    # Choose mode's picks (12 names of up to 40 characters) too.
    "tag_predictor": 192,
    "explainer": 64,
    # A verdict: "Yes" or "No".
    "judge_verdict": 3,
    # An expert's picks: 10 numbers of its pool's list.
    "tag_expert": 64,
}


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 200
    batch_size: int = 4
    grad_accum: int = 1
    learning_rate: float = 2e-4
    max_length: int = 768
    seed: int = 0
    lora: LoraSettings = field(default_factory=LoraSettings)
    # Held-apart examples whose answers are generated and scored after training (0: loss only).
    val_generate: int = 16
    val_loss_examples: int = 64

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_main_process() -> bool:
    """Rank 0 of a torchrun / accelerate launch, or a single process."""
    return os.environ.get("RANK", "0") == "0"


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def device_options() -> dict[str, Any]:
    """The trainers' device settings: GPUs where there are some (bf16 where they have it, NCCL between
    processes), else the CPU in float32 with gloo. Never bf16 on a CPU: the trainers' default, it is emulated
    on CPUs without bf16 instructions and made a step five times slower here."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "use_cpu": not cuda,
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        "fp16": False,
        "ddp_backend": ("nccl" if cuda else "gloo") if world_size() > 1 else None,
    }


class CatalogueTagMapper:
    """The tag service's own mapping (bundled embedder, its category texts and threshold), built once."""

    def __init__(self, items: list[Item]) -> None:
        from recgpt_domain.category_map import CachedEncoder, CategoryMapper, TagMappingSettings
        from recgpt_serving.embedding.runtime import load_bundled

        settings = TagMappingSettings()
        encoder = CachedEncoder(load_bundled(settings.embedding_batch_size), settings.embedding_cache_size)
        self.mapper = CategoryMapper(encoder, items, settings.category_text)
        self.min_score = settings.tag_min_category_score

    def map(self, texts: Any) -> Any:
        return self.mapper.map(list(texts))


class NamedTagMapper:
    """Choose mode's answers are category tags: each names its category exactly, as the tag service reads
    its picks; any other text names nothing (the service's schema would not have let it through)."""

    def __init__(self, items: list[Item]) -> None:
        from recgpt_domain.category_tags import category_tags

        self.categories = {tag: category for category, tag in category_tags(items).items()}

    def map(self, texts: Any) -> Any:
        from recgpt_domain.category_map import CategoryMatch
        from recgpt_domain.tag_choice import category_named

        found = (category_named(text, self.categories) for text in texts)
        return [CategoryMatch(category, 1.0) if category else CategoryMatch("", 0.0) for category in found]


@dataclass
class Job:
    agent: AgentName
    catalogue: Path
    base: BaseModel
    adapters_root: Path
    data_config: DataConfig = field(default_factory=DataConfig)
    settings: TrainSettings = field(default_factory=TrainSettings)
    # Tests pass a fake; None builds the tag service's mapper when tags are scored.
    tag_mapper: TagMapper | None = None
    # Tests pass a fake; None embeds the catalogue's categories as the tag service does when experts' pools
    # are built.
    near: NearCategories | None = None

    @cached_property
    def items(self) -> dict[str, Item]:
        return {item.item_id: item for item in read_items(self.catalogue)}

    @cached_property
    def data(self) -> TrainingData:
        if self.agent == JUDGE:
            return judge_data.build_from_catalogue(self.catalogue, self.data_config)
        near = self.near_categories if self.agent == EXPERT else None
        return build_from_catalogue(self.agent, self.catalogue, self.data_config, near)

    @cached_property
    def near_categories(self) -> NearCategories | None:
        """The categories nearest a persona's text, as the tag service finds them (None: pools take none)."""
        if self.near is not None:
            return self.near
        if not self.data_config.expert_near:
            return None
        mapper: NearCategories = CatalogueTagMapper(list(self.items.values())).mapper
        return mapper

    @cached_property
    def mapper(self) -> TagMapper:
        if self.tag_mapper is not None:
            return self.tag_mapper
        if self.data_config.tag_mode == "choose":
            return NamedTagMapper(list(self.items.values()))
        return CatalogueTagMapper(list(self.items.values()))

    @cached_property
    def constraints(self) -> TagConstraints:
        if isinstance(self.mapper, CatalogueTagMapper):
            return TagConstraints(min_category_score=self.mapper.min_score)
        return TagConstraints()

    @property
    def expert_constraints(self) -> ExpertConstraints:
        return ExpertConstraints(max_picks=self.data_config.expert_tags)

    @property
    def prompt_version(self) -> str:
        """The prompt the examples were built with: the tag agent's depends on its mode."""
        if self.agent == TAGS:
            return TAG_PROMPT_VERSIONS[self.data_config.tag_mode]
        return PROMPT_VERSIONS[self.agent]

    def rewarder(self) -> ExplanationRewarder:
        return ExplanationRewarder(
            CatalogueVocabulary.from_items(self.items.values()), self.data_config.explain_max_words
        )

    def validate(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        """Generated answers on held-apart users' examples, scored like the rewards score them.

        A failure here is logged and recorded in the figures, never raised: the trained adapter is still
        written (an hour of training is not lost to a scoring error), and its manifest says validation failed.
        """
        try:
            return self.answer_metrics(model, tokenizer)
        except Exception as error:
            log.exception("validation failed; the adapter is written without its figures")
            return {"validation_error": f"{type(error).__name__}: {error}"[:500]}

    def answer_metrics(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        """The first `val_generate` validation examples answered greedily and scored (raises on failure)."""
        examples = self.data.validation[: self.settings.val_generate]
        if not examples:
            return {}
        answers = generation.generate(
            model, tokenizer, [e.prompt for e in examples], max_new_tokens=MAX_NEW_TOKENS[self.agent]
        )
        return scoring.agent_metrics(
            self.agent,
            examples,
            [a[0] for a in answers],
            items=self.items,
            mapper=self.mapper if self.agent == TAGS else None,
            rewarder=self.rewarder() if self.agent == EXPLANATIONS else None,
            # Only tags are mapped: other agents build no mapper (it loads the embedder and the tag settings).
            constraints=self.constraints if self.agent == TAGS else TagConstraints(),
            expert=self.expert_constraints,
        )

    def save(
        self,
        model: Any,
        *,
        method: artefact.Method,
        data_fingerprint: str,
        hyperparameters: dict[str, Any],
        validation: dict[str, Any],
        train_seconds: float,
        parent: str | None = None,
    ) -> Path:
        manifest = artefact.AdapterManifest(
            agent=self.agent,
            version=artefact.new_version(method, data_fingerprint),
            method=method,
            base_model=self.base.served_name,
            base_model_source=self.base.source_stamp,
            prompt_version=self.prompt_version,
            data_fingerprint=data_fingerprint,
            hyperparameters=hyperparameters,
            validation=validation,
            lora_rank=self.settings.lora.rank,
            created_at=artefact.utc_now(),
            created_at_unix=int(time.time()),
            train_seconds=round(train_seconds, 1),
            parent=parent,
        )
        return artefact.write_adapter(
            self.adapters_root, manifest, lambda folder: model.save_pretrained(str(folder))
        )
