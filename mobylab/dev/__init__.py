"""The engine's source and its dev daemon, in the order the data flows:

    source       clone or fetch a ref, tag, commit or pull request (never losing local work)
    plan         pure: how the checkout's era builds (a BuildPlan: the era's facts and a route)
    routes       pure: upstream (the era's make) or source (mobylab's dev image), and why
    planner      gathers what the plan needs (engine, mirror, toolchain) and plans
    build        run the plan: make, live progress, a log, a manifest, a cache by commit
    pipeline     dev.plan and dev.build from a checkout: plan, reuse the cached build, or build
    container    pure: the dev container's names, daemon arguments and security
    resources    the dev container with its volume and network on the host engine
    daemon       the build's dockerd inside it: start, wait, stop, why it failed
    console      status, one command, a shell
    environment  brings the container and its daemon up and down, in order
    seed         copy images from the host engine into the dev daemon
    clean        remove what mobylab made for the dev environment, and nothing else

Tasks and labs import the stage they need (`from mobylab.dev.plan import read_plan`).
"""
