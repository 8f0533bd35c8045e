#!/bin/sh
# The builder pattern: build an SDK image, copy the binary out of a container
# made from it, then build a small runtime image around that binary.
# IMAGE and EXTRACT name the images and the container; LABELS adds build flags.
set -e

image=${IMAGE:-href-counter}
extract=${EXTRACT:-extract}

echo "Building $image:build"
docker build $LABELS -t "$image:build" -f Dockerfile.build .

docker create $LABELS --name "$extract" "$image:build"
docker cp "$extract:/go/src/github.com/alexellis/href-counter/app" ./app
docker rm -f "$extract"

echo "Building $image:latest"
docker build $LABELS --no-cache -t "$image:latest" .
