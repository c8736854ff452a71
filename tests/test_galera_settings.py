"""The Galera rules that need no cluster: the sync-wait setting and the refusal rule."""

from __future__ import annotations

import pytest

from postctl import galera
from postctl.errors import ConfigError
from tests.conftest import Run

SYNCED = galera.NodeState(
    cluster_size=3, cluster_status="Primary", local_state="Synced", ready=True
)


@pytest.mark.parametrize(("value", "mask"), [("", 0), ("0", 0), ("1", 1), (" 15 ", 15)])
def test_sync_wait_takes_a_mask_from_0_to_15(value: str, mask: int) -> None:
    assert galera.sync_wait_setting({galera.SYNC_WAIT_VAR: value}) == mask
    assert galera.sync_wait_setting({}) == 0


@pytest.mark.parametrize("value", ["16", "-1", "on", "1.5", "\uff11"])
def test_sync_wait_refuses_anything_else(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        galera.sync_wait_setting({galera.SYNC_WAIT_VAR: value})
    assert str(err.value) == (
        "POSTCTL_WSREP_SYNC_WAIT: must be a wsrep_sync_wait mask from 0 to 15 (1: reads wait "
        f"for every write the cluster has committed), not {value.strip()!r}"
    )


def test_serve_refuses_a_bad_sync_wait_before_starting(run: Run) -> None:
    result = run("serve", env={galera.SYNC_WAIT_VAR: "always"})
    assert result.exit_code == 1, result.output
    assert result.stderr.endswith(
        "POSTCTL_WSREP_SYNC_WAIT: must be a wsrep_sync_wait mask from 0 to 15 (1: reads wait "
        "for every write the cluster has committed), not 'always'\n"
    )


def test_only_a_synced_node_of_the_primary_component_is_usable() -> None:
    assert galera.refusal(None, "refusing") is None  # not a Galera node
    assert galera.refusal(SYNCED, "refusing") is None
    donor = galera.NodeState(3, "Primary", "Donor/Desynced", True)
    cut_off = galera.NodeState(1, "non-Primary", "Initialized", False)
    assert galera.refusal(donor, "refusing").startswith(  # type: ignore[union-attr]
        "refusing: this Galera node is Donor/Desynced, not Synced ("
    )
    assert galera.refusal(cut_off, "refusing").startswith(  # type: ignore[union-attr]
        "refusing: this Galera node is not in the cluster's primary component ("
    )
    assert (donor.answers, cut_off.answers, SYNCED.answers) == (True, False, True)
