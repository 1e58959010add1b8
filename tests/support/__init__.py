"""Test doubles that speak real HTTP on loopback: webhook and Slack receivers, and a
real Alertmanager process, for integration and end-to-end tests of the notifiers."""
