"""Maintenance: device and gateway health, installation tests, self-test reminders and
technicians' work orders, remote gateway commands and their results."""
