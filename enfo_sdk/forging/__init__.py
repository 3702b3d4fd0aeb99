"""The parts of forging: settings, objective terms, the owner's rows, the reducer, the state.

:func:`enfo_sdk.forge` puts them together; see that module for the loop.
"""
