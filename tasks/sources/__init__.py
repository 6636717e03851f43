"""Paper sources behind one interface: the local corpus and live arXiv."""
