"""Root test configuration; being a conftest, it puts tests/ on sys.path (`from events import load_event`)."""
