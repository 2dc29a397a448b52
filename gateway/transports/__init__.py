"""Device links: serial (pyserial URLs) and BLE (bleak or in-memory), behind small interfaces."""
