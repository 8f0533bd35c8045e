"""The Engine: any Docker daemon mobylab talks to, how one is found or started, what it allows.

Every later stage (dev builds, labs, workshops) imports from here, never from the
private modules behind it:

    Engine(url, kind, name)      the daemon: SDK client, CLI environment, ping, wait_ready
    find_engine(settings, ws)    the user's engine, else mobylab's private one (_connect)
    PrivateEngine(ws)            start, find and stop that private engine (_private)
    probe(engine, ws)            versions, storage, cgroups, BuildKit, --privileged or
                                 its fallback: a Capabilities record (_probe)
    RunSecurity                  how to start a container that runs its own dockerd
    cli_facts(engine, ws)        the docker CLI's version and whether it has buildx (_cli)
"""

from ._cli import cli_facts, local_buildx, local_fingerprint
from ._connect import find_engine
from ._engine import DEFAULT_SOCKET, Engine, display_url, log_tail, url_from_host
from ._private import PrivateEngine
from ._probe import PRIVILEGED, Capabilities, RunSecurity, probe

__all__ = [
    "DEFAULT_SOCKET",
    "PRIVILEGED",
    "Capabilities",
    "Engine",
    "PrivateEngine",
    "RunSecurity",
    "cli_facts",
    "display_url",
    "find_engine",
    "local_buildx",
    "local_fingerprint",
    "log_tail",
    "probe",
    "url_from_host",
]
