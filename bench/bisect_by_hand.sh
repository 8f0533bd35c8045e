#!/bin/sh
# One `git bisect run` step by hand, in the engine checkout at the commit to test: build
# it (dev.build, the source route), start its daemon, seed it, run the scenario in a
# scratch copy, stop the daemon. Terms: the old end is absent, the new one present, so
# the scenario's exit 0 (present) becomes 1; a build or daemon that fails is 125 (skip).
# Needs MOBYLAB_CLONE, MOBYLAB_WORKSPACE, SCENARIO, SEED and SCRATCH.
set -u
mobylab() { python3 -m invoke -r "$MOBYLAB_CLONE" "$@" >/dev/null 2>&1; }
mobylab dev.build --route source --checkout "$PWD" || exit 125
commit=$(git rev-parse HEAD)
mobylab dev.up --build "$commit" --name byhand || exit 125
if ! mobylab dev.seed --build "$commit" -- "$SEED"; then
    mobylab dev.down --name byhand
    exit 125
fi
url=$(python3 -m invoke -r "$MOBYLAB_CLONE" dev.status --name byhand --json \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["socket"])')
rm -rf "$SCRATCH" && cp -r "$SCENARIO" "$SCRATCH"
(cd "$SCRATCH" && DOCKER_HOST="$url" DOCKER_BUILDKIT=0 ./run) >/dev/null 2>&1
present=$?
mobylab dev.down --name byhand
[ "$present" -eq 0 ] && exit 1
exit 0
