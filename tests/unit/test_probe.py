"""The --privileged fallback derives from the capability bounding set."""

from __future__ import annotations

import docker
import pytest

from mobylab.engine import PRIVILEGED, Capabilities
from mobylab.engine._probe import (
    CAPABILITIES,
    fallback_security,
    image_store,
    missing_capabilities,
    parse_bounding_set,
)

FULL_41 = (1 << 41) - 1  # CAP_CHOWN .. CAP_CHECKPOINT_RESTORE
NO_SYS_RESOURCE = FULL_41 & ~(1 << 24)

STATUS = """Name:\tcat
CapInh:\t0000000000000000
CapPrm:\t000001fffeffffff
CapBnd:\t000001fffeffffff
CapAmb:\t0000000000000000
"""


def test_parse_bounding_set() -> None:
    assert parse_bounding_set(STATUS) == 0x1FFFEFFFFFF
    with pytest.raises(ValueError):
        parse_bounding_set("Name:\tcat\n")


def test_missing_capabilities() -> None:
    assert CAPABILITIES[24] == "SYS_RESOURCE"
    assert missing_capabilities(NO_SYS_RESOURCE, 40) == ["SYS_RESOURCE"]
    assert missing_capabilities(FULL_41, 40) == []
    # Capabilities past the kernel's last one are not asked for.
    assert missing_capabilities(FULL_41 >> 3, 37) == []
    assert missing_capabilities(0, 1) == ["CHOWN", "DAC_OVERRIDE"]


def test_fallback_from_this_machine_kind_of_bounding_set() -> None:
    security = fallback_security(parse_bounding_set(STATUS), 40)
    assert security.privileged is False
    assert security.cap_add == ("ALL",) and security.cap_drop == ("SYS_RESOURCE",)
    flags = security.cli_flags()
    assert "--cap-add=ALL" in flags and "--cap-drop=SYS_RESOURCE" in flags
    assert "--security-opt=systempaths=unconfined" in flags
    assert "--device-cgroup-rule=a *:* rwm" in flags
    assert "SYS_RESOURCE" in security.describe()


def test_privileged_flags() -> None:
    assert PRIVILEGED.cli_flags() == ["--privileged"]


def test_host_config_spells_systempaths_for_the_api() -> None:
    api = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    security = fallback_security(NO_SYS_RESOURCE, 40)
    config = security.host_config(api, network_mode="none")
    assert config["CapAdd"] == ["ALL"] and config["CapDrop"] == ["SYS_RESOURCE"]
    assert config["MaskedPaths"] == [] and config["ReadonlyPaths"] == []
    assert "systempaths=unconfined" not in config["SecurityOpt"]
    assert config["DeviceCgroupRules"] == ["a *:* rwm"]
    assert PRIVILEGED.host_config(api)["Privileged"] is True


def _caps(**changes) -> Capabilities:
    values = dict(
        url="u", server_version="20.10.24", api_version="1.41", operating_system="Debian",
        kernel="6.1", storage_driver="overlay2", image_store="graphdriver", cgroup_version="1",
        cgroup_driver="cgroupfs", buildkit=True, buildx=False, privileged=False,
        fallback={"privileged": False, "cap_add": ["ALL"], "cap_drop": ["SYS_RESOURCE"],
                  "security_opt": [], "device_cgroup_rules": []},
    )  # fmt: skip
    values.update(changes)
    return Capabilities(**values)


def test_dind_security_picks_privileged_or_the_fallback() -> None:
    assert _caps(privileged=True).dind_security == PRIVILEGED
    assert _caps(privileged=None).dind_security == PRIVILEGED
    fallback = _caps().dind_security
    assert fallback.privileged is False and fallback.cap_drop == ("SYS_RESOURCE",)


def test_image_store() -> None:
    assert image_store({"DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}) == (
        "containerd"
    )
    assert image_store({"DriverStatus": [["Backing Filesystem", "extfs"]]}) == "graphdriver"
    assert image_store({}) == "graphdriver"
