"""Ingesters: fetch platform exports, parse them without bodies, write them to the store."""
