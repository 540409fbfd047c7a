int harvest_placeholder_core() { return 0; }
