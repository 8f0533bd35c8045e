"""Pure: the seccomp profile a dev daemon runs its containers under.

Engines before 2021 compile in a default profile that predates clone3: it refuses the
call with EPERM, and the glibc of today's images (2.34 on) then cannot start a thread,
so a RUN step of a current Debian image fails. The release's build tags stay on (the
daemon has seccomp, as the release had); instead the build writes the source's own
profile with clone3 allowed beside its bundles, and the daemon starts with
`--seccomp-profile` (a daemon flag since 1.13). Those profiles' schema has no
`errnoRet`, so clone3 cannot be made to fail with ENOSYS the way later profiles do:
allowing it is the one choice that keeps the profile's other rules.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping

# Where the engine's source keeps its default seccomp profile (a module of its own later).
SECCOMP_PROFILES = (
    "profiles/seccomp/default.json",
    "vendor/github.com/moby/profiles/seccomp/default.json",
)
# Vendored in a source whose BuildKit runs RUN steps under a profile compiled in (2018
# on), which the daemon's flag does not reach.
BUILDKIT_EXECUTOR = "vendor/github.com/moby/buildkit/executor"
# The profile the build writes into its bundles folder, for the daemon's flag.
DAEMON_PROFILE = "mobylab-seccomp.json"
CLONE3_RULE = {
    "names": ["clone3"],
    "action": "SCMP_ACT_ALLOW",
    "args": [],
    "comment": "allowed by mobylab: glibc 2.34 and later start threads with clone3",
    "includes": {},
    "excludes": {},
}


def predates_clone3(profile: str) -> bool:
    """Whether a default profile's text never names clone3 (so it refuses it)."""
    return "clone3" not in profile


def outdated_profile(files: Mapping[str, str | None]) -> str:
    """The source's default profile (a path relative to the checkout) when it predates
    clone3, else ""."""
    for path in SECCOMP_PROFILES:
        text = files.get(path)
        if text:
            return path if predates_clone3(text) else ""
    return ""


def with_clone3(profile: str) -> str:
    """The profile's text with clone3 allowed (its rules otherwise untouched)."""
    data = json.loads(profile)
    data["syscalls"] = [*data.get("syscalls", []), CLONE3_RULE]
    return json.dumps(data, indent=1) + "\n"


def buildkit_note(profile: str, folders: Collection[str]) -> str:
    """What a plan says when the daemon's profile is replaced but its BuildKit keeps a
    compiled-in one that predates clone3 too ("" otherwise)."""
    if not profile or BUILDKIT_EXECUTOR not in folders:
        return ""
    return (
        "this engine's BuildKit runs RUN steps under a seccomp profile compiled in, which "
        "--seccomp-profile does not reach and which refuses clone3 as the release's did: "
        "under BuildKit, RUN steps of images with glibc 2.34 or later fail to start "
        "threads (EPERM); the legacy builder (DOCKER_BUILDKIT=0) runs them under the "
        "daemon's profile"
    )
