"""The invoke namespace: one collection per area, thin over the library."""

from invoke import Collection

from . import devenv, doctor, engine, images, lab, workshop
from .bench import bench

ns = Collection()
ns.add_collection(engine.ns)
ns.add_collection(images.ns)
ns.add_task(doctor.doctor)
ns.add_collection(devenv.ns)  # dev.*: the build tasks (tasks/dev.py) and the daemon's
ns.add_collection(lab.ns)
ns.add_collection(workshop.ns)
ns.add_task(bench)
