// Placeholder until the module has sources; delete once a real .cpp exists here.
