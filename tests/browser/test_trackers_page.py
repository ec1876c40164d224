"""The NOC page once phones report (issue 15): an OwnTracks phone's location and a Traccar
Client's fix move their guards on the map like any tracker's, and the Traccar Client's
`alarm=sos` is an open alarm in the feed. The screenshot is docs/trackers.md's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Noc
from tests.integration.test_trackers import mosquitto_pub, owntracks_location

pytestmark = [pytest.mark.integration, pytest.mark.browser]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "trackers.png"
CAMPUS = (12.9716, 77.5946)


def test_phones_move_their_guards_and_a_traccar_sos_is_an_open_alarm(
    noc: Noc, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(noc.url + "/")
    page.fill("#token", noc.token("operator", 1, "olga@1"))
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login.hidden", state="attached", timeout=10_000)
    page.wait_for_selector("#site option[value='site-mg-road']", state="attached")
    page.select_option("#site", "site-mg-road")

    lat, lon = CAMPUS[0] + 0.0009, CAMPUS[1] - 0.0011
    payload = owntracks_location(lat, lon, int(time.time()))
    mosquitto_pub(noc.vigil, "ot-phone-2", "owntracks/bob/phone2", payload)
    page.wait_for_function("g => noc.marker(g) !== null", arg="ot-guard-2", timeout=10_000)

    url = f"http://127.0.0.1:{noc.vigil.settings.osmand_port}/"
    auth = ("tc-phone-1", noc.vigil.password("tc-phone-1"))
    fix = {"id": "tc-phone-1", "lat": str(CAMPUS[0] - 0.0008), "lon": str(CAMPUS[1] + 0.0012)}
    assert httpx.post(url, params=fix, auth=auth, timeout=30).status_code == 200
    page.wait_for_function("g => noc.marker(g) !== null", arg="tc-guard-1", timeout=10_000)
    before = page.evaluate(f"noc.marker({json.dumps('tc-guard-1')})")

    sos = {**fix, "lat": str(CAMPUS[0] - 0.0004), "alarm": "sos"}
    assert httpx.post(url, params=sos, auth=auth, timeout=30).status_code == 200
    page.wait_for_selector("#alerts li.open:has-text('tc-guard-1')", timeout=10_000)
    page.wait_for_function(
        "([g, b]) => (m => m && (Math.abs(m.x - b.x) > 2 || Math.abs(m.y - b.y) > 2))"
        "(noc.marker(g))",
        arg=["tc-guard-1", before],
        timeout=10_000,
    )
    assert "sos" in (page.text_content("#alerts li.open:has-text('tc-guard-1')") or "")
    page.screenshot(path=str(SCREENSHOT))
    page.close()
