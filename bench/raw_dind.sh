#!/bin/sh
# A build's dockerd in the dev image, started by hand: `docker run -d` with the same
# security options as mobylab's fallback (the FLAGs), the same bundles
# mount and a data volume, then a loop polling the daemon's socket until it answers.
#
#   raw_dind.sh IMAGE NAME VOLUME BUNDLES BUNDLES_TARGET RUN_DIR CONTAINER_PATH DRIVER FLAG...
#
# The FLAGs (security options, labels) go to `docker run` as they are.
set -eu

image=$1
name=$2
volume=$3
bundles=$4
bundles_target=$5
run_dir=$6
container_path=$7
driver=$8
shift 8

# Inside: cgroup v1 hierarchies are read-only without --privileged; mount each
# again read-write, then run the build's dockerd from the bundles in PATH.
inner='
for dir in /sys/fs/cgroup/*; do
    [ -d "$dir" ] && [ ! -L "$dir" ] || continue
    name=${dir##*/}
    case "$name" in
        unified) continue ;;
        systemd) options=none,name=systemd ;;
        *) options=$name ;;
    esac
    umount "$dir" && mount -t cgroup -o "$options" cgroup "$dir"
done
rm -f /run/bench/docker.sock /var/run/docker.pid
exec dockerd --host=unix:///var/run/docker.sock --host=unix:///run/bench/docker.sock \
    --storage-driver="$DRIVER" > /run/bench/dockerd.log 2>&1
'

rm -f "$run_dir/docker.sock"
docker run -d --name "$name" "$@" \
    -v "$bundles:$bundles_target:ro" -v "$run_dir:/run/bench" -v "$volume:/var/lib/docker" \
    -e "PATH=$container_path" -e "DRIVER=$driver" -e container=docker \
    --entrypoint /bin/sh "$image" -c "$inner" > /dev/null

until curl -sf -o /dev/null --unix-socket "$run_dir/docker.sock" http://docker/_ping; do
    sleep 0.05
done
