"""`gosvc bench PATH`: what a generated service costs, measured beside a bare net/http server.

servers builds the servers to compare with, wrk drives the load, process starts and
watches the binaries, run does the measurements in order and report prints and writes
the figures. Figures only: nothing here passes or fails on a threshold.
"""
