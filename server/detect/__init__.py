"""The server's detector worker: falls, sensor faults and activity from accelerometer blocks;
vital-sign breaches and inactivity from the stores. Stored events become alerts
through the alert engine, other findings through the alert service (``server.alerts.service``)."""
