"""Practice mode: the learner types each step, the lab checks the engine's state.

`start` opens the learner's shell at a step (and keeps the progress when they
leave), `shell` makes the shell's command line, environment and files, `cli` is
the `lab` command inside it, `run` is the run that command works on, `present`
shows a step with its task, `state` is practice.json and the pure decisions on it.
"""
