"""Adapters: turn what users have (models, data) into what tfrd estimates."""
