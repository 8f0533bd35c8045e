"""The `dev` collection, mirroring mobylab/dev: the source and its build, then its daemon."""

from invoke import Collection

from . import build, console, environment, scenario

ns = Collection("dev", *build.TASKS, *environment.TASKS, *console.TASKS, *scenario.TASKS)
