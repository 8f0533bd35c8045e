"""workshop.serve: one sandbox per seat and a terminal in the page.

seats (pure: the seat plan, tokens, tickets, limits, origins), sandbox (IO: a
seat's docker-in-docker container and its practice run), bridge (the `lab`
command inside a sandbox, answered by the server), terminal (the seat's TTY
exec through the engine API), server (aiohttp: pages, tickets, websockets).
"""
