"""Tests of every op: forward values, derivative rules (VJP/JVP) and their conventions."""
