"""Full gRPC service names, read from the generated code: channels and health checks never spell them."""

from __future__ import annotations

from google.protobuf.descriptor import FileDescriptor

from recgpt.explain.v1 import explain_pb2
from recgpt.intent.v1 import intent_pb2
from recgpt.judge.v1 import judge_pb2
from recgpt.retrieval.v1 import retrieval_pb2
from recgpt.tags.v1 import tags_pb2


def full_name(file: FileDescriptor, service: str) -> str:
    """`package.Service` of `service` as declared in the proto file that `file` describes."""
    return file.services_by_name[service].full_name


RETRIEVAL = full_name(retrieval_pb2.DESCRIPTOR, "RetrievalService")
INTENT = full_name(intent_pb2.DESCRIPTOR, "IntentService")
TAGS = full_name(tags_pb2.DESCRIPTOR, "TagsService")
EXPLAIN = full_name(explain_pb2.DESCRIPTOR, "ExplainService")
JUDGE = full_name(judge_pb2.DESCRIPTOR, "JudgeService")
