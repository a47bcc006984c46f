"""Our BFD sessions against BIRD 2's bfd protocol in network namespaces, IPv4 and IPv6 at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bfdlab import Bird, Ours, wait_for
from netlab import Host, Lab, missing_requirements

NODE4, ROUTER4 = "198.51.100.1", "198.51.100.2"
NODE6, ROUTER6 = "2001:db8::1", "2001:db8::2"
CONFIG = f"""router id {ROUTER4};
protocol device {{}}
protocol bfd {{
  interface "eth0" {{ min rx interval 100 ms; min tx interval 100 ms; idle tx interval 1000 ms; multiplier 3; }};
  neighbor {NODE4} dev "eth0" local {ROUTER4};
  neighbor {NODE6} dev "eth0" local {ROUTER6};
}}
"""


@pytest.fixture
def setup(lab: Lab) -> Iterator[tuple[Host, Bird]]:
    why = missing_requirements("bird", "birdc")
    if why:
        pytest.skip(why)
    node = lab.add_host("node", v4=f"{NODE4}/24", v6=f"{NODE6}/64")
    router = lab.add_host("router", v4=f"{ROUTER4}/24", v6=f"{ROUTER6}/64")
    bird = Bird(router, CONFIG)
    bird.start()
    yield node, bird
    bird.close()


def start_ours(node: Host) -> Ours:
    return Ours(node, "--peer", f"{ROUTER4},{NODE4}", "--peer", f"{ROUTER6},{NODE6}", "--rx", "100", "--tx", "100")


def test_both_families_come_up_with_bird_and_go_down_when_bird_dies(setup: tuple[Host, Bird]) -> None:
    node, bird = setup
    ours = start_ours(node)
    keys = (f"{ROUTER4},{NODE4}", f"{ROUTER6},{NODE6}")
    wait_for("our sessions Up", lambda: all(ours.state(k) == "UP" for k in keys))

    # BIRD reports the negotiated interval and its detection timeout (3 x 100 ms) once the Poll has ended.
    def at_fast_timers() -> dict[str, dict[str, str]] | None:
        rows = bird.sessions()
        return rows if all(rows.get(a, {}).get("interval") == "0.100" for a in (NODE4, NODE6)) else None

    rows = wait_for("BIRD at the fast timers", at_fast_timers)
    assert {rows[a]["state"] for a in (NODE4, NODE6)} == {"Up"}
    assert {rows[a]["timeout"] for a in (NODE4, NODE6)} == {"0.300"}
    bird.kill()
    wait_for("our sessions Down", lambda: all(ours.state(k) == "DOWN" for k in keys))
    assert {ours.last_change(k)["diag"] for k in keys} == {"control_detection_time_expired"}
    ours.quit()


def test_bird_sees_our_kill_and_our_clean_stop(setup: tuple[Host, Bird]) -> None:
    node, bird = setup
    ours = start_ours(node)
    wait_for("BIRD Up", lambda: {r["state"] for r in bird.sessions().values()} == {"Up"})
    ours.kill()
    wait_for("BIRD Down after our kill", lambda: {r["state"] for r in bird.sessions().values()} == {"Down"})
    ours = start_ours(node)
    wait_for("BIRD Up again", lambda: {r["state"] for r in bird.sessions().values()} == {"Up"})
    ours.quit()
    wait_for("BIRD Down after our AdminDown", lambda: {r["state"] for r in bird.sessions().values()} == {"Down"})
