"""Training examples from behaviour: each training user's log cut at several points, what came next the
target.

Who never enters: every user the evaluation may draw (`evaluation.split.choose` with the evaluation's
seed, for each user count it is run with), and every user's last interaction (the evaluation's held-out
target, `evaluation.split.leave_last_out`), whoever the user. A seeded share of the remaining users is
kept apart for validation. The prompt of each example is the one the agent serves with, from the
agent's own prompt builder, over the same compressed behaviour (`recgpt_domain.behaviour_context.compress`).

RecGPT-V2's persona expert has no planner here: its persona is the user's most frequent categories at the cut
(`recgpt_domain.personas.frequent_category_persona`, no LLM), its pool the tag service's own
(`recgpt_domain.persona_tags.ExpertPools`), its prompt `tags.prompts.expert_messages` over the latest items.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent_training import targets
from agent_training.agents import BEHAVIOUR_AGENTS, EXPERT, EXPLANATIONS, INTERESTS, TAGS, AgentName
from evaluation.split import Split, choose, eligible
from explain import prompts as explain_prompts
from intent import prompts as intent_prompts
from recgpt_domain.behaviour_context import (
    UNCATEGORISED,
    BehaviourContext,
    compress,
    frequent_category_interests,
)
from recgpt_domain.catalogue import Interaction, Item, UserHistory, iter_histories, read_items, read_manifest
from recgpt_domain.category_tags import category_parents
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.persona_tags import (
    EXPERT_BUDGET_TOKENS,
    EXPERT_NEAR,
    EXPERT_POOL,
    EXPERT_TAGS,
    ExpertPools,
    NearCategories,
)
from recgpt_domain.personas import frequent_category_persona
from recgpt_domain.prompt_versions import DEFAULT_TAG_MODE, DEFAULT_TAG_POOL, TagMode
from recgpt_domain.tag_ranking import Candidates
from recgpt_serving.llm.client import Message
from tags import prompts as tag_prompts

# The user counts `make eval` is run with (USERS=...): the users drawn for each are never trained on.
EVALUATION_USER_COUNTS = (100, 200, 500, 1000)
EVALUATION_SEED = 0


class NoUsableExamples(ValueError):
    """The data holds no example for an agent (users too short, categories missing, ...)."""


@dataclass(frozen=True)
class DataConfig:
    cuts_per_user: int = 3
    # Items after a cut whose categories are the tag targets (and whose return makes an interest).
    next_window: int = 3
    validation_share: float = 0.05
    seed: int = 0
    evaluation_counts: tuple[int, ...] = EVALUATION_USER_COUNTS
    evaluation_seed: int = EVALUATION_SEED
    # The agents' serving defaults (behaviour_budget_tokens, max_interests, max_tags, max_words).
    budget_tokens: int = 1200
    max_interests: int = 12
    max_tags: int = 24
    explain_max_words: int = 30
    # Interests an interest target names at most (short answers train faster and say the most).
    target_interests: int = 4
    # The tag service's mode (RECGPT_TAG_MODE): "choose" examples offer the statistics' candidates.
    tag_mode: TagMode = DEFAULT_TAG_MODE
    # Choose mode: candidates offered (the service's tag_rank_pool) and the picks a target names at most.
    tag_pool: int = DEFAULT_TAG_POOL
    choose_target_tags: int = 12
    # The experts' serving defaults (tags.settings: RECGPT_EXPERT_TAGS, _POOL, _NEAR, _BUDGET_TOKENS) and
    # the categories a persona rests on (the planner's RECGPT_PERSONA_MAX_CATEGORIES).
    expert_tags: int = EXPERT_TAGS
    expert_pool: int = EXPERT_POOL
    expert_near: int = EXPERT_NEAR
    expert_budget_tokens: int = EXPERT_BUDGET_TOKENS
    persona_categories: int = 3
    max_train_examples: int | None = None


@dataclass(frozen=True)
class Example:
    user_id: str
    prompt: list[Message]
    completion: str
    # Categories of the items the user took next (the tags' hit set).
    next_categories: tuple[str, ...]
    # Explanations: the item explained and the interest it is explained for.
    item_id: str = ""
    interest: str = ""
    # Interests the tag prompt listed (the user's frequent categories at the cut).
    interests: tuple[str, ...] = ()
    # Categories of the context, most frequent first (the frequent-categories baseline).
    history_categories: tuple[str, ...] = ()
    last_category: str = ""
    # Experts: the persona and the categories it rests on, and its pool's categories with the names the
    # prompt offers them by.
    persona: str = ""
    persona_categories: tuple[str, ...] = ()
    pool: tuple[str, ...] = ()
    pool_names: tuple[str, ...] = ()

    def as_row(self) -> dict[str, object]:
        """The prompt-completion row TRL trains on (conversational: loss on the completion only)."""
        return {"prompt": self.prompt, "completion": [{"role": "assistant", "content": self.completion}]}


@dataclass
class TrainingData:
    agent: AgentName
    train: list[Example]
    validation: list[Example]
    fingerprint: str
    # Users by fate, and examples left out by reason: what the data is made of.
    users: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def reserved_for_evaluation(splits: Sequence[Split], config: DataConfig) -> set[str]:
    """Every user the evaluation draws for any of its user counts, with its seed."""
    reserved: set[str] = set()
    for count in config.evaluation_counts:
        reserved.update(split.user_id for split in choose(splits, count, config.evaluation_seed))
    return reserved


def is_validation_user(user_id: str, config: DataConfig) -> bool:
    digest = hashlib.sha256(f"{config.seed}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < config.validation_share


def cut_points(history: Sequence[Interaction], cuts: int, rng: random.Random) -> list[int]:
    """Where to cut: at least one item before, at least one after (so a log needs two items)."""
    positions = list(range(1, len(history)))
    if len(positions) <= cuts:
        return positions
    return sorted(rng.sample(positions, cuts))


class ExampleBuilder:
    """Makes one agent's examples for a user's history cut at a position."""

    def __init__(
        self,
        agent: AgentName,
        items: Mapping[str, Item],
        config: DataConfig,
        candidates: Candidates | None = None,
        near: NearCategories | None = None,
    ) -> None:
        if (agent == EXPERT or (agent == TAGS and config.tag_mode == "choose")) and candidates is None:
            raise ValueError(f"{agent} examples in this mode need the candidates' statistics")
        if agent == EXPERT and config.expert_near and near is None:
            raise ValueError("expert examples need the categories nearest a persona (or expert_near 0)")
        self.agent = agent
        self.items = items
        self.config = config
        self.candidates = candidates
        self.pools = (
            ExpertPools(
                candidates.transitions.follows,
                candidates.names,
                near,
                config.expert_near,
                config.expert_pool,
            )
            if agent == EXPERT and candidates is not None
            else None
        )
        # Experts: pools made ahead (`prepare`), by persona text and categories.
        self._pools: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self.parents = category_parents(items.values())
        self.vocabulary = CatalogueVocabulary.from_items(items.values()) if agent == EXPLANATIONS else None
        self.skipped: Counter[str] = Counter()

    def prepare(self, contexts: Iterable[Sequence[Interaction]]) -> None:
        """Experts: makes the pools of these contexts' personas at once (their texts embedded in batches,
        which give each text the categories one at a time would); `build` then finds them made."""
        if self.pools is None:
            return
        personas: dict[tuple[str, tuple[str, ...]], None] = {}
        for context in contexts:
            behaviour = compress(context, self.items, self.config.budget_tokens)
            persona = frequent_category_persona(behaviour, self.config.persona_categories)
            if persona is not None:
                personas[(persona.text, tuple(persona.categories))] = None
        keys = [key for key in personas if key not in self._pools]
        self._pools.update(zip(keys, self.pools.pools(keys), strict=True))

    def _category(self, item_id: str) -> str:
        item = self.items.get(item_id)
        return item.category.strip() if item is not None and item.category.strip() else ""

    def build(self, user_id: str, history: Sequence[Interaction], cut: int) -> Example | None:
        context, following = history[:cut], history[cut : cut + self.config.next_window]
        behaviour = compress(context, self.items, self.config.budget_tokens)
        interests = [
            interest.interest
            for interest in frequent_category_interests(behaviour, self.config.max_interests)
        ]
        next_categories = tuple(
            dict.fromkeys(c for c in map(self._category, (i.item_id for i in following)) if c)
        )
        if not interests or not next_categories:
            self.skipped["no_category"] += 1
            return None
        base = {
            "user_id": user_id,
            "next_categories": next_categories,
            "interests": tuple(interests),
            "history_categories": tuple(c for c, _ in behaviour.top_categories if c != UNCATEGORISED),
            "last_category": self._category(context[-1].item_id),
        }
        if self.agent == TAGS and self.candidates is not None and self.config.tag_mode == "choose":
            return self._choice(behaviour, interests, base)
        if self.agent == EXPERT:
            return self._expert(context, behaviour, base)
        if self.agent == TAGS:
            answer = targets.tags_answer(next_categories, interests, self.parents)
            if answer is None:
                self.skipped["no_tag_for_category"] += 1
                return None
            prompt = tag_prompts.messages(behaviour.text, interests, self.config.max_tags)
            return Example(prompt=prompt, completion=answer, **base)  # type: ignore[arg-type]
        if self.agent == INTERESTS:
            counts = dict(behaviour.top_categories)
            returning = [(c, n) for c, n in behaviour.top_categories if c in next_categories]
            if not returning:
                self.skipped["no_returning_category"] += 1
                return None
            rest = [(c, counts[c]) for c in interests if c not in next_categories]
            ranked = (returning + rest)[: self.config.target_interests]
            answer = targets.interests_answer(ranked)
            prompt = intent_prompts.messages(behaviour.text, self.config.max_interests)
            return Example(prompt=prompt, completion=answer or "", **base)  # type: ignore[arg-type]
        return self._explanation(history[cut], interests, base)

    def _choice(
        self, behaviour: BehaviourContext, interests: Sequence[str], base: Mapping[str, Any]
    ) -> Example | None:
        """The tag service's choose-mode prompt over this user's candidates; the target puts the next
        items' categories first, then keeps the statistics' order."""
        assert self.candidates is not None
        pool = self.candidates.pool(behaviour, self.items, self.config.tag_pool)
        if not pool:
            self.skipped["no_candidates"] += 1
            return None
        names = [self.candidates.names[category] for category in pool]
        answer = targets.numbered_answer(base["next_categories"], pool, self.config.choose_target_tags)
        prompt = tag_prompts.choose_messages(behaviour.text, interests, names, self.config.max_tags)
        return Example(prompt=prompt, completion=answer, pool=tuple(pool), pool_names=tuple(names), **base)

    def _expert(
        self, context: Sequence[Interaction], behaviour: BehaviourContext, base: Mapping[str, Any]
    ) -> Example | None:
        """The tag service's ExpertTags prompt for a persona of the user's frequent categories: its pool, the
        latest items in the expert's budget; the target puts the next categories the pool offers first."""
        assert self.pools is not None and self.candidates is not None
        persona = frequent_category_persona(behaviour, self.config.persona_categories)
        if persona is None:
            self.skipped["no_category"] += 1
            return None
        key = (persona.text, tuple(persona.categories))
        pool = self._pools[key] if key in self._pools else self.pools.pool(*key)
        if not pool:
            self.skipped["no_candidates"] += 1
            return None
        names = [self.candidates.names[category] for category in pool]
        short = compress(context, self.items, self.config.expert_budget_tokens).text
        return Example(
            prompt=tag_prompts.expert_messages(persona.text, short, names, self.config.expert_tags),
            completion=targets.numbered_answer(base["next_categories"], pool, self.config.expert_tags),
            persona=persona.text,
            persona_categories=tuple(persona.categories),
            pool=tuple(pool),
            pool_names=tuple(names),
            **base,
        )

    def _explanation(
        self, chosen: Interaction, interests: Sequence[str], base: Mapping[str, object]
    ) -> Example | None:
        item = self.items.get(chosen.item_id)
        if item is None or self.vocabulary is None:
            self.skipped["unknown_item"] += 1
            return None
        interest = item.category if item.category in interests else interests[0]
        sentence = targets.explanation_sentence(
            item, interest, self.vocabulary, self.config.explain_max_words
        )
        if sentence is None:
            self.skipped["ungrounded_target"] += 1
            return None
        prompt = explain_prompts.messages(interest, item, self.config.explain_max_words)
        return Example(
            prompt=prompt,
            completion=targets.explanation_answer(sentence),
            item_id=item.item_id,
            interest=interest,
            **base,  # type: ignore[arg-type]
        )


def fingerprint(examples: Iterable[Example], config: DataConfig, catalogue_fingerprint: str) -> str:
    """sha256 over the configuration, the catalogue and every example in order: same data, same print."""
    digest = hashlib.sha256()
    digest.update(json.dumps(asdict(config), sort_keys=True).encode())
    digest.update(catalogue_fingerprint.encode())
    for example in examples:
        digest.update(json.dumps(asdict(example), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def training_order(train: list[Example], config: DataConfig, why_none: str) -> list[Example]:
    """The training examples capped at `max_train_examples` and shuffled, both by the seed; raises
    `NoUsableExamples` with `why_none` when there are none."""
    if config.max_train_examples is not None and len(train) > config.max_train_examples:
        train = random.Random(config.seed).sample(train, config.max_train_examples)
    if not train:
        raise NoUsableExamples(why_none)
    random.Random(config.seed).shuffle(train)
    return train


def build(
    agent: AgentName,
    histories: Iterable[UserHistory],
    items: Mapping[str, Item],
    config: DataConfig,
    catalogue_fingerprint: str = "",
    near: NearCategories | None = None,
) -> TrainingData:
    """The agent's training and validation examples; raises `NoUsableExamples` when there are none.

    `near`: the categories nearest a text, which experts' pools take (the tag service's embedder).
    """
    if agent not in BEHAVIOUR_AGENTS:
        raise ValueError(f"{agent} does not learn from cut logs (its examples: agent_training.judge_data)")
    splits = eligible(histories)
    reserved = reserved_for_evaluation(splits, config)
    candidates = None
    if agent == EXPERT or (agent == TAGS and config.tag_mode == "choose"):
        # Counted as the service counts them, from the logs the platform holds: every user's but the
        # evaluation's, each without its held-out last interaction.
        held = [
            UserHistory(user_id=s.user_id, interactions=list(s.history))
            for s in splits
            if s.user_id not in reserved
        ]
        candidates = Candidates.count(held, items)
    builder = ExampleBuilder(agent, items, config, candidates, near)
    users: Counter[str] = Counter()
    cuts: list[tuple[Split, bool, int]] = []
    for split in splits:
        if split.user_id in reserved:
            users["evaluation_reserved"] += 1
            continue
        # `split.history` is the log without its last interaction: the held-out target never enters.
        if len(split.history) < 2:
            users["too_short"] += 1
            continue
        held_apart = is_validation_user(split.user_id, config)
        users["validation" if held_apart else "train"] += 1
        rng = random.Random(f"{config.seed}:{split.user_id}")
        cuts.extend((split, held_apart, cut) for cut in cut_points(split.history, config.cuts_per_user, rng))
    builder.prepare(split.history[:cut] for split, _, cut in cuts)
    train: list[Example] = []
    validation: list[Example] = []
    for split, held_apart, cut in cuts:
        example = builder.build(split.user_id, split.history, cut)
        if example is not None:
            (validation if held_apart else train).append(example)
    train = training_order(
        train,
        config,
        f"no usable {agent} example: users {dict(users)}, examples skipped {dict(builder.skipped)} "
        "(a user needs at least three interactions: two to cut between, the last held out)",
    )
    return TrainingData(
        agent=agent,
        train=train,
        validation=validation,
        fingerprint=fingerprint([*train, *validation], config, catalogue_fingerprint),
        users=dict(users),
        skipped=dict(builder.skipped),
    )


@dataclass(frozen=True)
class CatalogueInputs:
    items: dict[str, Item]
    histories: Iterable[UserHistory]
    fingerprint: str


def read_catalogue(catalogue: Path) -> CatalogueInputs:
    """An imported catalogue folder (recgpt-import's output) as training reads it, refused when its users'
    last interactions are already gone."""
    manifest = read_manifest(catalogue)
    if manifest.held_out_last:
        # Its users' last items are already gone: cutting another would train on less, not leak; refuse anyway
        # so that "the last item" always means the same interaction as in the evaluation.
        raise NoUsableExamples(
            f"{catalogue} was imported with the last interactions held out; import it whole"
        )
    return CatalogueInputs(
        items={item.item_id: item for item in read_items(catalogue)},
        histories=iter_histories(catalogue),
        fingerprint=f"{manifest.items_fingerprint}:{manifest.behaviour_fingerprint}",
    )


def build_from_catalogue(
    agent: AgentName, catalogue: Path, config: DataConfig, near: NearCategories | None = None
) -> TrainingData:
    """`build` over an imported catalogue folder."""
    inputs = read_catalogue(catalogue)
    return build(agent, inputs.histories, inputs.items, config, inputs.fingerprint, near)
