"""Wiring: settings, dispatcher factory, middlewares, states, callback data, keyboards."""
