"""The sans-IO core: one app instance's DCR lifecycle and the rules it shares with servers.

Standard library only (a test enforces it): no clock, no socket, no global random source.
"""
