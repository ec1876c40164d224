"""The NOC page in a real browser: sign in with an operator token, watch a guard move,
see a panic in the feed within 1 s, acknowledge it, and find that in the API and lake;
and after its live feed was closed under it, reconnect by itself and show the next one."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Noc, restart, wait_for
from tests.serve.apiclient import Api, make_guard

pytestmark = [pytest.mark.integration, pytest.mark.browser]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "noc.png"
CAMPUS = (12.9716, 77.5946)  # the middle of site-mg-road's campus zone


def test_operator_sees_a_guard_move_a_panic_arrive_and_acknowledges_it(
    noc: Noc, clients: dict[str, Api], browser: Any
) -> None:
    guard, device = make_guard(clients["admin1"], 1, "site-mg-road", "page")
    warm, warm_device = make_guard(clients["admin1"], 1, "site-mg-road", "pagewarm")
    crew = [make_guard(clients["admin1"], 1, "site-mg-road", f"crew{n:02d}")[0] for n in range(16)]
    noc.vigil.publish(f"guard/{guard}/gps", _fix(*CAMPUS))
    _walk(noc, crew, 0)
    wait_for(lambda: _live(clients, guard), 10, "the guard's first fix on the live view")

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    violations = watch_csp(page)
    response = page.goto(noc.url + "/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    page.fill("#token", noc.token("operator", 1, "olga@1"))
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login.hidden", state="attached", timeout=10_000)
    page.wait_for_selector("#site option[value='site-mg-road']", state="attached")
    page.select_option("#site", "site-mg-road")  # other tests' sites may widen "all sites"
    page.wait_for_function("g => noc.marker(g) !== null", arg=guard, timeout=10_000)
    before = page.evaluate(f"noc.marker({json.dumps(guard)})")

    noc.vigil.publish(f"guard/{guard}/gps", _fix(CAMPUS[0] + 0.0012, CAMPUS[1] + 0.0010))
    page.wait_for_function(
        "([g, b]) => (m => m && (Math.abs(m.x - b.x) > 5 || Math.abs(m.y - b.y) > 5))"
        "(noc.marker(g))",
        arg=[guard, before],
        timeout=10_000,
    )

    # A first alarm warms the path (first calls of each actor method); then the clock runs.
    noc.vigil.publish(f"device/{warm_device}/alert", '{"type": "panic"}')
    page.wait_for_selector(f"#alerts li:has-text('{warm}')", timeout=10_000)
    published = time.monotonic()
    noc.vigil.publish(f"device/{device}/alert", '{"type": "panic"}')
    item = f"#alerts li.open:has-text('{guard}')"
    left_ms = max(1.0, 1000 * (1.0 - (time.monotonic() - published)))
    page.wait_for_selector(item, timeout=left_ms)  # the deadline: 1 s after publishing
    alert_id = page.get_attribute(item, "data-alert-id")
    assert alert_id and "panic" in (page.text_content(item) or "")

    last = crew[-1]
    page.wait_for_function("g => noc.marker(g) !== null", arg=last, timeout=10_000)
    was = page.evaluate(f"noc.marker({json.dumps(last)})")
    _walk(noc, crew, 1)
    page.wait_for_function(  # the crew's walk reached the map, for the screenshot
        "([g, w]) => (m => m && (m.x !== w.x || m.y !== w.y))(noc.marker(g))",
        arg=[last, was],
        timeout=10_000,
    )
    page.click(f"{item} button[data-action=acknowledge]")
    page.wait_for_selector(f"#alerts li.acknowledged[data-alert-id='{alert_id}']", timeout=10_000)
    page.click(f"#alerts li[data-alert-id='{alert_id}']")
    page.wait_for_selector("#detail table", timeout=10_000)

    state = clients["viewer1"].get(f"/api/alerts/{alert_id}")
    assert state["status"] == "acknowledged"
    assert state["acknowledged_by"] == "olga@1"
    wait_for(
        lambda: (
            noc.vigil.count(
                "alert_events",
                "alert_id = ? AND type = 'acknowledged' AND who = 'olga@1'",
                [alert_id],
            )
            == 1
        ),
        10,
        "the acknowledgement in the lake",
    )
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert violations + page.evaluate("window.cspViolations") == []  # it all ran under the CSP
    page.close()


def watch_csp(page: Any) -> list[str]:
    """What the page's Content-Security-Policy blocked: the console's reports, and each
    `securitypolicyviolation` event in `window.cspViolations` (an init script, which the
    policy does not govern)."""
    seen: list[str] = []
    page.on(
        "console",
        lambda message: (
            seen.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.add_init_script(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation', e =>"
        " window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    return seen


def test_the_page_reconnects_by_itself_after_a_hub_restart_and_shows_the_next_panic(
    noc: Noc, clients: dict[str, Api], browser: Any
) -> None:
    guard, device = make_guard(clients["admin1"], 1, "site-mg-road", "pageback")
    noc.vigil.publish(f"guard/{guard}/gps", _fix(*CAMPUS))
    wait_for(lambda: _live(clients, guard), 10, "the guard's first fix on the live view")
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(noc.url + "/")
    page.fill("#token", noc.token("operator", 1, "olga@1"))
    page.click("#login-form button[type=submit]")
    page.wait_for_function("() => noc.state.live", timeout=10_000)
    before = page.evaluate("({connects: noc.state.connects, epoch: noc.state.epoch})")

    # The Hub's restart closes every live socket (4000: resync); its seq starts over.
    restart(noc.vigil.runtime.hub)
    page.wait_for_function(
        "b => noc.state.live && noc.state.connects > b.connects && noc.state.epoch !== b.epoch",
        arg=before,
        timeout=30_000,
    )
    noc.vigil.publish(f"device/{device}/alert", '{"type": "panic"}')
    page.wait_for_selector(f"#alerts li.open:has-text('{guard}')", timeout=10_000)
    page.wait_for_function("g => noc.marker(g) !== null", arg=guard, timeout=10_000)
    page.close()


def _fix(lat: float, lon: float) -> str:
    return json.dumps({"lat": lat, "lon": lon, "accuracy": 6.0})


def _walk(noc: Noc, crew: list[str], step: int) -> None:
    """The crew on a ring around the campus centre (a few outside its fence)."""
    for n, guard in enumerate(crew):
        angle = 2 * math.pi * n / len(crew) + step * 0.15
        radius = 0.0016 if n % 5 else 0.0024
        lat, lon = CAMPUS[0] + radius * math.sin(angle), CAMPUS[1] + radius * math.cos(angle)
        noc.vigil.publish(f"guard/{guard}/gps", _fix(lat, lon))


def _live(clients: dict[str, Api], guard: str) -> bool:
    return any(g["guard_id"] == guard for g in clients["operator1"].get("/api/live/guards"))
