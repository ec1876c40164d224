"""`run`: a count or a duration ends it, and a truth is written only with its message."""

from __future__ import annotations

import io
import json

from core.broker import BrokerAddress
from core.fleet import load_fleet
from core.settings import Settings
from simulator.engine import Params, Simulation
from simulator.events import Outgoing
from simulator.publish import broker_address, run

START = 1_796_000_000.0


def simulation() -> Simulation:
    return Simulation(
        load_fleet(Settings().fleet_path), seed=2, start=START, params=Params(event_every_s=1.0)
    )


def test_a_count_ends_the_run_and_only_sent_messages_have_their_truth_written() -> None:
    sent: list[Outgoing] = []
    out = io.StringIO()
    done = run(simulation(), sent.append, count=250, truth=out, paced=False)
    assert done.sent == len(sent) == 250
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    carried = [t for m in sent for t in m.truths]
    assert [r["ts"] for r in rows if r["topic"]] == [t.ts for t in carried]
    assert sum(done.truths.values()) == len(rows) > 0


def test_a_duration_ends_the_run_at_that_much_simulated_time() -> None:
    sent: list[Outgoing] = []
    sim = simulation()
    run(sim, sent.append, duration_s=60.0, paced=False)
    assert sent and max(m.ts for m in sent) < START + 60.0
    assert max(m.ts for m in sent) > START + 60.0 - 2 * sim.params.interval_s


def test_broker_urls_name_their_host_and_port() -> None:
    assert broker_address("mqtt://broker.example:1884") == BrokerAddress("broker.example", 1884)
    assert broker_address("10.0.0.2") == BrokerAddress("10.0.0.2", 1883)
    secured = broker_address("mqtts://sim:s%40cret@broker.example", ca_file="/etc/ca.pem")
    assert secured == BrokerAddress(
        "broker.example", 8883, True, "sim", "s@cret", ca_file="/etc/ca.pem"
    )
    assert broker_address("mqtts://sim:old@b", "other", "new").password == "new"
