"""The invoke namespace: one collection per area, thin over the library."""

from invoke import Collection

from . import doctor, engine, images
from .bench import bench

ns = Collection()
ns.add_collection(engine.ns)
ns.add_collection(images.ns)
ns.add_task(doctor.doctor)
ns.add_task(bench)
ns.add_collection(__import__(f"{__name__}.lab", fromlist=["ns"]).ns)  # lab.*
ns.add_collection(__import__(f"{__name__}.workshop", fromlist=["ns"]).ns)  # workshop.*
ns.add_collection(__import__(f"{__name__}.devenv", fromlist=["ns"]).ns)  # dev.*
