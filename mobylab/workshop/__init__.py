"""Workshops over SSH: the same mobylab on every attendee machine.

hosts      parse and validate host strings, inventories
hostkeys   known_hosts verification (RejectPolicy, or --trust-new-hosts)
pool       bounded parallelism, per-host deadlines, retries with backoff
remote     a verified connection, quoted commands, files, the per-host log
driver     connect every host, run a body, record outcomes for --only-failed
check, provision, labrun (run/status), collect, teardown, board: the bodies run on each host
artifacts  what provision copies, made once here: wheelhouse, labs, images, dev build
commands   one function per workshop task: hosts from settings and flags, a body, outcomes
tables     what the tasks print, made from outcomes
"""
