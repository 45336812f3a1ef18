"""The openai backend over real HTTP on 127.0.0.1: retries, fallback, the one bounded retry,
concurrency limit, clean failures, and resuming from the per-item cache."""

from __future__ import annotations

import time

import pytest

from physflow.stages.physics_context import PhysicsContextConfig, PhysicsContextStage, PhysicsItem, ServiceError
from physflow.stages.physics_context.openai_backend import OpenAIReasoner
from physflow.stages.physics_context.prompts import prompt_text
from tests.servers import free_port
from tests.stages.physics_context.http_endpoint import Behaviour, Endpoint

pytestmark = pytest.mark.timeout(60)
TEXTS = ["A rubber ball bounces on a wooden floor.", "Coffee is poured into a mug.", "A candle burns in the dark.",
         "An ice cube melts in warm water.", "A laser beam crosses a smoky room.", "A can is crushed by a press."]


def config(endpoint: Endpoint, **kw) -> PhysicsContextConfig:
    base = {"backend": "openai", "base_url": endpoint.base_url, "model": "physics-test", "backoff_s": 0.01,
            "api_key": "sk-test"}
    return PhysicsContextConfig(**{**base, **kw})


def test_answers_validate_and_match_the_rules(tmp_path):
    with Endpoint() as ep:
        table = PhysicsContextStage(config(ep)).run([PhysicsItem(t) for t in TEXTS])
    rows = table.to_pylist()
    assert [r["error"] for r in rows] == [None] * len(TEXTS)
    assert rows[0]["categories"] == ["elastic_motion"] and rows[0]["backend"] == "openai"
    sent = ep.chat_requests()[0]
    assert sent["response_format"]["type"] == "json_schema" and sent["model"] == "physics-test"
    assert sent["messages"][0]["content"] == prompt_text("system")


def test_transient_errors_are_retried_with_backoff():
    with Endpoint(Behaviour(fail_first=2)) as ep:
        reasoner = OpenAIReasoner(config(ep, max_retries=3, backoff_s=0.05))
        start = time.perf_counter()
        context = reasoner.reason(TEXTS[0], seed=1)
        assert time.perf_counter() - start >= 0.05 + 0.1  # two waits: 0.05 s, then 0.1 s
    assert context.categories == ["elastic_motion"] and len(ep.chat_requests()) == 3


def test_retries_are_bounded_then_the_service_fails():
    with Endpoint(Behaviour(fail_first=100)) as ep, pytest.raises(ServiceError, match="failed 3 time"):
        OpenAIReasoner(config(ep, max_retries=2)).reason(TEXTS[0], seed=1)
    assert len(ep.chat_requests()) == 3


def test_auto_falls_back_to_json_object_with_schema():
    with Endpoint(Behaviour(reject_json_schema=True)) as ep:
        table = PhysicsContextStage(config(ep, concurrency=1)).run([PhysicsItem(t) for t in TEXTS[:2]])
    assert table.column("error").null_count == 2
    formats = [r["response_format"]["type"] for r in ep.chat_requests()]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert "properties" in ep.chat_requests()[1]["response_format"]["schema"]


@pytest.mark.parametrize("content", ["I think the ball bounces!", '{"principles": "gravity"}',
                                     '{"enhanced_prompt": "' + prompt_text("system")[:300].replace("\n", " ") + '"}'])
def test_invalid_answer_gets_one_retry_then_an_error_row(content):
    with Endpoint(Behaviour(invalid_content=content)) as ep:
        table = PhysicsContextStage(config(ep)).run([PhysicsItem(TEXTS[0])])
    row = table.to_pylist()[0]
    assert row["error"].startswith("InvalidAnswerError: invalid answer after one retry")
    requests = ep.chat_requests()
    assert len(requests) == 2  # the answer and exactly one retry
    assert requests[1]["messages"][-1]["content"].startswith("Your previous answer was rejected")


def test_concurrency_is_limited():
    with Endpoint(Behaviour(delay_s=0.2)) as ep:
        texts = [f"{t} Take {i}." for i in range(4) for t in TEXTS]
        PhysicsContextStage(config(ep, concurrency=3, batch_size=24)).run([PhysicsItem(t) for t in texts])
    assert ep.behaviour.max_in_flight == 3


def test_server_down_fails_before_work_naming_the_url():
    port = free_port()  # nothing listens there
    cfg = PhysicsContextConfig(backend="openai", base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=2)
    with pytest.raises(ServiceError, match=f"127.0.0.1:{port}/v1/models"):
        PhysicsContextStage(cfg).run([PhysicsItem(TEXTS[0])])


def test_garbage_server_fails_cleanly():
    with Endpoint(Behaviour(garbage=True)) as ep:
        with pytest.raises(ServiceError, match="cannot use"):
            OpenAIReasoner(config(ep)).check()
        ep.behaviour.garbage = False
        reasoner = OpenAIReasoner(config(ep))
        reasoner.check()
        ep.behaviour.garbage = True  # the service breaks mid-run
        with pytest.raises(ServiceError, match="without a chat completion"):
            reasoner.reason(TEXTS[0], seed=0)


def test_outage_fails_the_shard_and_a_rerun_resumes_from_the_item_cache(tmp_path):
    cache = str(tmp_path / "answers.sqlite")
    items = [PhysicsItem(t) for t in TEXTS]
    with Endpoint(Behaviour(fail_texts=("candle", "laser"))) as ep:
        with pytest.raises(ServiceError, match="2 text"):
            PhysicsContextStage(config(ep, item_cache=cache, max_retries=1)).run(items)
        first = len(ep.chat_requests())
        ep.behaviour.fail_texts = ()
        table = PhysicsContextStage(config(ep, item_cache=cache)).run(items)
        assert len(ep.chat_requests()) - first == 2  # only the two that failed are asked again
        assert table.column("error").null_count == len(TEXTS)
        again = PhysicsContextStage(config(ep, item_cache=cache)).run(items)
        assert len(ep.chat_requests()) - first == 2 and again.equals(table)


def test_breaker_stops_calling_a_failing_service():
    with Endpoint(Behaviour(fail_first=10_000)) as ep:
        stage = PhysicsContextStage(config(ep, max_retries=0, concurrency=1, max_consecutive_failures=3))
        with pytest.raises(ServiceError, match="6 text"):
            stage.run([PhysicsItem(t) for t in TEXTS])
    assert len(ep.chat_requests()) == 3


def test_api_key_is_sent_but_never_stored():
    with Endpoint() as ep:
        cfg = config(ep)
        assert "api_key" not in cfg.model_dump(mode="json") and "sk-test" not in repr(cfg)
        reasoner = OpenAIReasoner(cfg)
        assert reasoner.client._client.headers["authorization"] == "Bearer sk-test"
