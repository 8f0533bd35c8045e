"""The invoke namespace: one collection per area, thin over the library."""

from invoke import Collection

from . import dev, doctor, engine, images, lab, workshop
from .bench import bench

ns = Collection()
ns.add_collection(engine.ns)
ns.add_collection(images.ns)
ns.add_task(doctor.doctor)
ns.add_collection(dev.ns)
ns.add_collection(lab.ns)
ns.add_collection(workshop.ns)
ns.add_task(bench)
