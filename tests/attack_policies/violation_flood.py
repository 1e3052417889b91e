"""Flood the host with reports: every refused attempt is sent to the host as it happens, so a
loop of cheap refused attempts (assignments to a read-only module) sends over a hundred thousand
reports a second, and a host that keeps them all grows by tens of MB per decision, until it runs
out of memory over an episode. The loop ends when the call's timer interrupts it."""

import math


def policy(state, agent_id):
    count = 0
    while True:
        try:
            math.tau = count
        except Exception:
            count += 1
