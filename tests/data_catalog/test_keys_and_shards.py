from physflow.data_catalog.keys import cache_key, canonical_json, shard_id
from physflow.data_catalog.sharding import content_shards
from physflow.stages.ingest import IngestConfig


def test_canonical_json_ignores_key_order():
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1}) == '{"a":[1,2],"b":1}'


def test_cache_key_changes_with_each_part():
    base = cache_key("ingest", 1, IngestConfig(), ["k1", "k2"])
    assert base == cache_key("ingest", 1, IngestConfig(), ["k1", "k2"])
    others = {
        cache_key("shots", 1, IngestConfig(), ["k1", "k2"]),
        cache_key("ingest", 2, IngestConfig(), ["k1", "k2"]),
        cache_key("ingest", 1, IngestConfig(decode_check="first"), ["k1", "k2"]),
        cache_key("ingest", 1, IngestConfig(), ["k1", "k3"]),
        cache_key("ingest", 1, IngestConfig(), ["k1", "k2"], ["w"]),
    }
    assert base not in others and len(others) == 5
    assert shard_id("ingest", ["a", "b"]) == shard_id("ingest", ["b", "a"])


def test_content_shards_are_stable_when_items_are_added():
    import hashlib

    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(400)]
    before = content_shards(keys, keys, 16)
    assert sum(map(len, before)) == 400 and max(map(len, before)) <= 64
    new = hashlib.sha256(b"new").hexdigest()
    after = content_shards([*keys, new], [*keys, new], 16)
    changed = [s for s in after if s not in before]
    assert len(changed) <= 2 and any(new in s for s in changed)  # only the shard the new item falls in


def test_items_of_one_key_share_a_shard():
    """The same content under two names (one key) is never split, at a key that ends a shard or at the size cap."""
    import hashlib

    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(400)]
    ending = next(k for k in keys if int(k[:12], 16) % 4 == 0)
    twice = [*keys, ending, *[keys[0]] * 20]  # keys[0] 21 times: past the cap of 16
    shards = content_shards(list(range(len(twice))), twice, 4)
    for key in (ending, keys[0]):
        holding = [s for s in shards if any(twice[i] == key for i in s)]
        assert len(holding) == 1, key
    assert sum(map(len, shards)) == len(twice)
