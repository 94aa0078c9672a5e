"""Sensors, schedules and the jobs they drive."""
