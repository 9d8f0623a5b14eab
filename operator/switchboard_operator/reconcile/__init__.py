"""Reconcilers: fetch what exists, render what should, apply the difference, report status.

Each `reconcile_*` is level-triggered and idempotent: it can run after a crash at any point,
from an event, a timer or a child's change, and converges to the same children.
"""
