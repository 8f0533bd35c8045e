"""Workshops over SSH: the same mobylab on every attendee machine.

hosts      parse and validate host strings, inventories
hostkeys   known_hosts verification (RejectPolicy, or --trust-new-hosts)
pool       bounded parallelism, per-host deadlines, retries with backoff
remote     a verified connection, quoted commands, files, the per-host log
driver     connect every host, run a body, record outcomes for --only-failed
check, provision, labrun (run/status), collect, teardown: the task bodies
"""
