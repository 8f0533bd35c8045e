"""The invoke namespace: one collection per area, thin over the library."""

from invoke import Collection

from . import engine

ns = Collection()
ns.add_collection(engine.ns)
