"""CRO demo mode: a synthetic trading day with scripted incidents."""
