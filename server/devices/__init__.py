"""A gateway's devices as the server keeps them (the source of truth): pairing, unpairing,
replacing and relabelling as config revisions (``server.devices.pairing``), the config each
revision is and its publication (``server.devices.config``), the pairing window and the devices
heard but not paired (``server.devices.heard``)."""
