"""The server's detector worker: falls, sensor faults and activity from accelerometer blocks;
vital-sign breaches and inactivity from the stores. Alerts through the alert engine."""
