"""cluster.yaml passes Ray's own cluster-config validation (its schema and defaults)."""

from __future__ import annotations

from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[2] / "cluster.yaml"


def test_cluster_yaml_is_a_valid_ray_cluster_config() -> None:
    config = prepare_config(yaml.safe_load(CLUSTER.read_text()))
    validate_config(config)
    assert set(config["available_node_types"]) == {"head", "worker"}
    assert config["head_node_type"] == "head"


def test_the_head_starts_vigil_against_an_external_broker_and_a_shared_lake() -> None:
    config = yaml.safe_load(CLUSTER.read_text())
    start = " ".join(config["head_start_ray_commands"])
    assert "vigil up --detach --ray-address auto" in start
    assert "--broker" in start and "--lake" in start
    assert any("pip install" in c and "vigil" in c for c in config["setup_commands"])
    assert config["available_node_types"]["head"]["resources"] == {"vigil-storage": 1}
